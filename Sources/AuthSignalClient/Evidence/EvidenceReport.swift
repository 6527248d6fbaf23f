import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

/// What `authsignal evidence` shows an auditor (docs/evidence.md): that logging operates over a
/// period. Records counted per day, the busiest failure sources and accounts, the chain's
/// verification with its journal anchors, retention and the oldest record kept, the off-host copy,
/// verdicts and alerts, credential and account changes, and the daemon's own starts and stops.
/// Built from records (``add(_:)``) and facts the command gathers; rendered as one HTML file
/// (``EvidenceHTML``) or JSON (``json``).
package struct EvidenceReport: Sendable {
    /// One day's counts.
    package struct Day: Sendable, Equatable {
        package var date: String
        package var logins = 0
        package var failures = 0
        package var logouts = 0
        package var other = 0
    }

    /// The chain's verification.
    package struct ChainCheck: Sendable {
        package var intact: Bool
        package var checked: Int
        package var problem: String?
        package var anchorsFound: Int
        package var latestAnchor: Int64?
        package var anchorHost: String?
        package var logID: String?

        package init(
            intact: Bool, checked: Int, problem: String?, anchorsFound: Int, latestAnchor: Int64?,
            anchorHost: String?, logID: String?
        ) {
            self.intact = intact
            self.checked = checked
            self.problem = problem
            self.anchorsFound = anchorsFound
            self.latestAnchor = latestAnchor
            self.anchorHost = anchorHost
            self.logID = logID
        }
    }

    /// The host the report is about.
    package var host: String
    /// When it was made.
    package var generated: Date
    /// The version of authsignal that made it.
    package var release: String
    /// The period: records stored at or after `since` and before `until`.
    package var since: Date
    package var until: Date
    /// `[Store] MaxAgeDays` and `MaxRecords` (0: kept forever).
    package var maxAgeDays = 0
    package var maxRecords = 0
    /// The oldest record the log still holds: its seq and when it was stored.
    package var oldestRecord: (seq: Int64, received: Date)?
    /// The chain check, when one was made.
    package var chain: ChainCheck?
    /// The off-host copy: what sends the journal elsewhere, when configured (journal-upload's URL
    /// and its state), else `nil`.
    package var offHost: String?
    /// Alerts by state over the period, when the outbox could be read.
    package var alerts: [String: Int]?

    /// Records counted, per day (UTC), in date order.
    package private(set) var days: [String: Day] = [:]
    package private(set) var perSignal: [AuthSignal: Int] = [:]
    package private(set) var failuresFrom: [String: Int] = [:]
    package private(set) var failuresAgainst: [String: Int] = [:]
    package private(set) var perVerdict: [VerdictCode: Int] = [:]
    /// Credential and account changes, newest last (at most ``listed``).
    package private(set) var changes: [WireRecord] = []
    /// The daemon's starts, stops, reloads and retention runs, newest last (at most ``listed``).
    package private(set) var lifecycle: [WireRecord] = []
    /// Starts with no stop before them: the daemon was killed or the host went down.
    package private(set) var uncleanStarts = 0
    private var lastLifecycle: AuthSignal?
    /// How many entries the change and lifecycle lists keep.
    package static let listed = 50

    /// A report on `host` for the period from `since` to `until`, made at `generated` by
    /// authsignal `release`.
    package init(host: String, since: Date, until: Date, generated: Date = Date(), release: String) {
        self.host = host
        self.release = release
        self.since = since
        self.until = until
        self.generated = generated
    }

    /// Counts one record of the period (in seq order).
    package mutating func add(_ record: WireRecord) {
        perSignal[record.signal, default: 0] += 1
        let day = Self.day(record.time ?? record.received)
        var counts = days[day] ?? Day(date: day)
        switch record.signal {
        case .userLoggedIn: counts.logins += 1
        case .userLoginFailed: counts.failures += 1
        case .userLoggedOut: counts.logouts += 1
        default: counts.other += 1
        }
        days[day] = counts
        if record.signal == .userLoginFailed {
            if let address = record.remoteAddr { failuresFrom[address, default: 0] += 1 }
            failuresAgainst[record.user ?? "-", default: 0] += 1
        }
        for verdict in record.verdicts { perVerdict[verdict.code, default: 0] += 1 }
        switch record.signal.family {
        case .credential, .account: changes = Array((changes + [record]).suffix(Self.listed))
        case .lifecycle:
            if record.signal == .daemonStarted, let previous = lastLifecycle, previous != .daemonStopped {
                uncleanStarts += 1
            }
            if record.signal == .daemonStarted || record.signal == .daemonStopped { lastLifecycle = record.signal }
            lifecycle = Array((lifecycle + [record]).suffix(Self.listed))
        case .authentication: break
        }
    }

    /// Every day of the period, in order, with its counts (zero for a day without records).
    package var dailyCounts: [Day] {
        var result: [Day] = []
        var day = Self.startOfDay(since)
        while day < until {
            let name = Self.day(day)
            result.append(days[name] ?? Day(date: name))
            day = day.addingTimeInterval(86400)
        }
        return result
    }

    /// The `count` largest entries of `counts`, largest first (ties by name).
    package static func top(_ counts: [String: Int], _ count: Int = 10) -> [(name: String, count: Int)] {
        counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(count).map { ($0.key, $0.value) }
    }

    /// `date`'s day in UTC, `YYYY-MM-DD`.
    static func day(_ date: Date) -> String { String(RFC3339.format(date).prefix(10)) }

    static func startOfDay(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86400).rounded(.down) * 86400)
    }

    /// The controls each section is evidence for (PCI DSS v4.0.1, NIST SP 800-53 rev. 5).
    package enum Section: String, CaseIterable, Sendable {
        case activity, failures, integrity, retention, offHost, review, changes, lifecycle

        /// The section's heading.
        package var title: String {
            switch self {
            case .activity: "Logins and logouts per day"
            case .failures: "Failed logins"
            case .integrity: "Integrity of the audit log"
            case .retention: "Retention"
            case .offHost: "Off-host copy"
            case .review: "Review: verdicts and alerts"
            case .changes: "Credential and account changes"
            case .lifecycle: "The audit daemon's own starts and stops"
            }
        }

        /// The controls.
        package var controls: [String] {
            switch self {
            case .activity: ["PCI DSS 10.2.1", "10.2.1.2", "10.2.2", "NIST AU-2", "AU-3", "AU-12"]
            case .failures: ["PCI DSS 10.2.1.4", "NIST AC-7", "AU-2"]
            case .integrity: ["PCI DSS 10.3.2", "10.3.4", "NIST AU-9", "AU-9(3)"]
            case .retention: ["PCI DSS 10.5.1", "NIST AU-11"]
            case .offHost: ["PCI DSS 10.3.3", "NIST AU-9(2)", "AU-4"]
            case .review: ["PCI DSS 10.4.1", "10.4.1.1", "10.7.2", "NIST AU-6", "AC-9", "SI-4"]
            case .changes: ["PCI DSS 10.2.1.5", "8.2.6", "NIST AC-2(4)", "IA-5"]
            case .lifecycle: ["PCI DSS 10.2.1.6", "10.7.2", "NIST AU-5", "AU-12"]
            }
        }
    }
}

extension EvidenceReport {
    /// The report as one JSON object (`evidence --format json`): the same figures as the page,
    /// each section with its controls.
    package var json: JSONObject {
        func object(_ counts: [(name: String, count: Int)]) -> JSONValue {
            .array(counts.map { .object(["name": .string($0.name), "count": .int(Int64($0.count))]) })
        }
        let signals = JSONObject(
            uniqueKeysWithValues: AuthSignal.allCases.map { ($0.rawValue, JSONValue.int(Int64(perSignal[$0] ?? 0))) })
        var result: JSONObject = [
            "host": .string(host), "generated": .string(RFC3339.format(generated)),
            "since": .string(RFC3339.format(since)), "until": .string(RFC3339.format(until)),
            "version": .string(release), "records_per_signal": .object(signals),
            "days": .array(
                dailyCounts.map {
                    .object([
                        "date": .string($0.date), "logins": .int(Int64($0.logins)),
                        "failures": .int(Int64($0.failures)), "logouts": .int(Int64($0.logouts)),
                        "other": .int(Int64($0.other)),
                    ])
                }),
            "top_failure_sources": object(Self.top(failuresFrom)),
            "top_failed_accounts": object(Self.top(failuresAgainst)),
            "verdicts": .object(
                JSONObject(
                    uniqueKeysWithValues: VerdictCode.allCases.map {
                        ($0.rawValue, JSONValue.int(Int64(perVerdict[$0] ?? 0)))
                    })),
            "retention": .object([
                "max_age_days": .int(Int64(maxAgeDays)), "max_records": .int(Int64(maxRecords)),
                "oldest_seq": oldestRecord.map { .int($0.seq) } ?? .null,
                "oldest_received": oldestRecord.map { .string(RFC3339.format($0.received)) } ?? .null,
            ]),
            "off_host": offHost.map(JSONValue.string) ?? .null,
            "alerts": alerts.map { .object(JSONObject($0.mapValues { .int(Int64($0)) })) } ?? .null,
            "unclean_starts": .int(Int64(uncleanStarts)),
            "changes": .array(changes.map { .string(RecordSentence.text($0)) }),
            "lifecycle": .array(lifecycle.map { .string(RecordSentence.text($0)) }),
            "controls": .object(
                JSONObject(
                    uniqueKeysWithValues: Section.allCases.map {
                        ($0.rawValue, JSONValue.array($0.controls.map(JSONValue.string)))
                    })),
        ]
        if let chain {
            result["chain"] = .object([
                "intact": .bool(chain.intact), "checked": .int(Int64(chain.checked)),
                "problem": chain.problem.map(JSONValue.string) ?? .null,
                "anchors_found": .int(Int64(chain.anchorsFound)),
                "latest_anchor": chain.latestAnchor.map(JSONValue.int) ?? .null,
                "log_id": chain.logID.map(JSONValue.string) ?? .null,
            ])
        }
        return result
    }
}
