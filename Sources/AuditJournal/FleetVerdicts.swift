import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

extension JournalHistory {
    /// Replays every host's logins, logouts and failures, merged in the order they were received,
    /// through a ``FleetJudge`` with `settings`, and calls `each` with every login received in
    /// [`since`, `until`) (only `host`'s, when given) that has verdicts: its host's own, as its
    /// daemon stored them (scope `host`), and the fleet's (scope `fleet`). Returns how many.
    package func judgedAcrossHosts(
        settings: VerdictSettings, host: String?, since: Date?, until: Date?, each: (WireRecord) throws -> Void
    ) throws -> Int {
        var judge = FleetJudge(settings: settings)
        var count = 0
        try activityInReceivedOrder(of: [.userLoggedIn, .userLoggedOut, .userLoginFailed]) { entry in
            let record = judge.judged(entry)
            guard record.signal == .userLoggedIn, !record.verdicts.isEmpty, host.map({ $0 == record.host }) ?? true,
                since.map({ record.received >= $0 }) ?? true, until.map({ record.received < $0 }) ?? true
            else { return }
            try each(record)
            count += 1
        }
        return count
    }
}
