package import AuthSignalCore
package import AuthSignalProtocol

/// Judges the logins of a fleet's hosts against the whole fleet's history, on the collector that
/// gathers their journals (docs/fleet.md): `first-seen-source` when the account never logged in
/// from the source on any host, and `success-after-failures` when failures on other hosts count
/// towards the threshold (spread over hosts, or all on others). Each host's own daemon judges its
/// own log; these verdicts say `fleet` as their scope, and their reasons name hosts.
///
/// Shown the hosts' records merged in the order they were received, each host's in its log's
/// order. It trusts what each host's daemon trusted (`AUTHSIGNAL_TRUSTED`): an untrusted sender's
/// record is neither judged nor learned from, as on the host.
package struct FleetJudge {
    /// The verdicts a fleet can judge: the others are a host's own facts (its accounts, its open
    /// sessions, its hours).
    package static let codes: Set<VerdictCode> = [.firstSeenSource, .successAfterFailures]

    private var judge: VerdictJudge

    /// A judge with `settings`' thresholds and windows, judging those of ``codes`` it enables.
    package init(settings: VerdictSettings) {
        var fleet = settings
        fleet.enabled = settings.enabled.intersection(Self.codes)
        judge = VerdictJudge(settings: fleet, scope: .fleet) { _ in nil }
    }

    /// Learns from `entry`, a host's record (the host on it), and returns the fleet's verdicts on
    /// it: only a trusted sender's login gets any.
    package mutating func judge(_ entry: JournalActivityEntry) -> [Verdict] {
        guard let event = Self.event(entry) else { return [] }
        return judge.judge(event)
    }

    /// `entry`'s record with its verdicts on a collector, having learned from it: its host's own,
    /// as its daemon stored them (scope `host`), then the fleet's (scope `fleet`).
    package mutating func judged(_ entry: JournalActivityEntry) -> WireRecord {
        var record = entry.record
        record.verdicts = entry.record.verdicts.map { Verdict($0.code, $0.reason, scope: .host) } + judge(entry)
        return record
    }

    /// Learns from `entry` without judging it: history read before the judging starts.
    package mutating func learn(_ entry: JournalActivityEntry) {
        guard let event = Self.event(entry) else { return }
        judge.learn(event)
    }

    private static func event(_ entry: JournalActivityEntry) -> ActivityEvent? {
        guard entry.trusted, let peer = entry.record.peer else { return nil }
        return ActivityEvent(entry.record, peerUID: Int64(peer.uid))
    }
}
