package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

/// What the alert service sees of the audit path in one look (every 30 s): enough to tell when
/// logging fails (PCI DSS 10.7.2), each part `nil` when it could not be seen.
package struct HealthObservation: Sendable {
    /// How full the audit log's file system is, in percent, and how many MiB are left.
    package var diskPercent: Int?
    package var diskAvailableMiB = 0
    /// The daemon's counters (`authsignal stats`); `nil` when it did not answer (a stopped
    /// daemon is Prometheus's `authsignal_up 0`, not an alert here).
    package var stats: StatsAnswer.Service?
    /// The last scheduled verify's outcome.
    package var verify: VerifyStatus?
    /// The PAM hook's reports of events it could not deliver, read from the journal since the
    /// last look: `spooled` or `lost`, each with its message.
    package var hookReports: [(result: String, message: String)] = []
    /// On a collector, each collected host; `nil` when there is no `FleetDirectory`, or it could
    /// not be read.
    package var fleet: [FleetHostHealth]?

    package init() {}
}

/// One collected host as the alert service last looked at it.
package struct FleetHostHealth: Sendable {
    package var host: String
    /// How long it has not been heard from, when longer than `FleetSilentAfterSec` (infinite:
    /// never heard); `nil` when it was heard from within it.
    package var silentFor: TimeInterval?
    /// What its anchors disagree on, a sentence each (`fleet status`).
    package var problems: [String]

    package init(host: String, silentFor: TimeInterval?, problems: [String]) {
        self.host = host
        self.silentFor = silentFor
        self.problems = problems
    }
}

/// A condition to alert on: which, what makes it unique in the outbox, and what to say.
package struct HealthAlert: Sendable, Hashable {
    package var condition: HealthCondition
    package var key: String
    package var detail: String
}

/// Turns looks at the audit path into alerts, each condition once per episode: raised when it
/// starts, again only after it has cleared (a disk that stays full is one alert, not one every
/// 30 s). Holds no clock and does no I/O, so that each rule is tested alone.
package struct HealthWatch: Sendable {
    /// At how many looks since the spool was last empty it must have grown before
    /// `spool-growing` is raised.
    package static let growingLooks = 3

    /// The conditions raised and not cleared since, each with its subject (a host, or none).
    private var raised: Set<String> = []
    private var lastStats: StatsAnswer.Service?
    private var spoolGrowth = 0
    private var lastVerify: String?

    package init() {}

    /// The alerts `observation` raises, given the threshold of `settings`; `look` numbers the
    /// look (a key for conditions that have no time of their own).
    package mutating func alerts(_ observation: HealthObservation, settings: AlertSettings, look: Int64)
        -> [HealthAlert]
    {
        var alerts: [HealthAlert] = []
        func episode(
            _ condition: HealthCondition, of subject: String? = nil, active: Bool, _ detail: @autoclosure () -> String
        ) {
            let raisedKey = condition.rawValue + (subject.map { "/" + $0 } ?? "")
            if active {
                if raised.insert(raisedKey).inserted {
                    let key = (subject.map { $0 + "/" } ?? "") + String(look)
                    alerts.append(HealthAlert(condition: condition, key: key, detail: detail()))
                }
            } else {
                raised.remove(raisedKey)
            }
        }
        for host in observation.fleet ?? [] {
            episode(
                .hostSilent, of: host.host, active: host.silentFor != nil,
                "Host \(host.host) was "
                    + (host.silentFor.map { $0.isFinite ? "not heard from for \(Int($0)) s" : "never heard from" } ?? "")
                    + ": its daemon, its journal, its uploader or its link stopped (authsignal fleet status).")
            episode(
                .hostAnchorsDisagree, of: host.host, active: !host.problems.isEmpty,
                "Host \(host.host)'s chain anchors disagree: " + host.problems.joined(separator: "; ") + ".")
        }
        if let percent = observation.diskPercent {
            let threshold = settings.diskUsagePercent
            episode(
                .diskUsage, active: percent >= threshold,
                "The audit log's file system is \(percent) % full, at or above the \(threshold) % threshold; "
                    + "\(observation.diskAvailableMiB) MiB are left.")
        }
        if let stats = observation.stats {
            compare(stats, into: &alerts, look: look)
            episode(
                .spoolGrowing, active: spoolGrowth >= Self.growingLooks,
                "The PAM hook's spool has grown at \(spoolGrowth) looks since it was last empty: \(stats.spool.pending) events wait "
                    + "in \(stats.spool.directory ?? "the spool") and the daemon does not store them.")
        }
        if let verify = observation.verify, verify.time != lastVerify {
            lastVerify = verify.time
            if verify.result != .intact {
                alerts.append(
                    HealthAlert(
                        condition: .verifyFailed, key: verify.time,
                        detail:
                            "The scheduled verify of the audit log at \(verify.time) found it \(verify.result.rawValue): "
                            + (verify.detail.isEmpty ? "see authsignal verify" : verify.detail)))
            }
        }
        let lost = observation.hookReports.filter { $0.result == "lost" }
        if let last = lost.last {
            alerts.append(
                HealthAlert(
                    condition: .hookLost, key: "\(look)",
                    detail:
                        "The PAM hook lost \(lost.count) event(s): neither stored nor spooled. The last: \(last.message)"
                ))
        }
        let spooled = observation.hookReports.filter { $0.result == "spooled" }
        if let last = spooled.last {
            alerts.append(
                HealthAlert(
                    condition: .hookSpooled, key: "\(look)",
                    detail: "The PAM hook could not deliver \(spooled.count) event(s) in time and spooled them for the "
                        + "daemon. The last: \(last.message)"))
        }
        return alerts
    }

    /// Compares the daemon's counters with the last look's: anchors refused since, and whether
    /// the spool grew.
    private mutating func compare(_ stats: StatsAnswer.Service, into alerts: inout [HealthAlert], look: Int64) {
        defer { lastStats = stats }
        // A restarted daemon counts from zero again.
        guard let last = lastStats, stats.uptimeSeconds >= last.uptimeSeconds else {
            spoolGrowth = 0
            return
        }
        if let journal = stats.journal, let before = last.journal, journal.anchorFailures > before.anchorFailures {
            alerts.append(
                HealthAlert(
                    condition: .anchorFailures, key: "\(look)",
                    detail:
                        "journald refused \(journal.anchorFailures - before.anchorFailures) chain anchor(s) since the "
                        + "last look (\(journal.anchorFailures) since the daemon started): the journal no longer "
                        + "vouches for the newest records."))
        }
        spoolGrowth =
            stats.spool.pending > last.spool.pending ? spoolGrowth + 1 : (stats.spool.pending == 0 ? 0 : spoolGrowth)
    }
}
