import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

/// An aureport-style summary of audit records (`authsignal report`): counts per signal, failures
/// per user and per address, a time histogram, and brute-force and password-spraying hints.
package struct AuditSummary {
    /// Accounts whose failures reached the threshold within the window.
    package struct BurstHint: Equatable {
        /// The account (a keyed hash for unknown accounts).
        package let user: String
        /// The most failures within one window.
        package let failures: Int
        /// When that window began.
        package let start: Date
    }

    /// One attempted secret (by its keyed hash) tried against several accounts.
    package struct SprayHint: Equatable {
        /// The keyed hash of the secret.
        package let secretHash: String
        /// How many distinct accounts it was tried against.
        package let accounts: Int
    }

    /// Records counted.
    package private(set) var total = 0
    /// Records left out because their sender is not trusted.
    package private(set) var untrusted = 0
    /// Records per signal.
    package private(set) var perSignal: [AuthSignal: Int] = [:]
    /// Failures per account.
    package private(set) var failuresPerUser: [String: Int] = [:]
    /// Failures per remote address.
    package private(set) var failuresPerAddress: [String: Int] = [:]
    /// Records per host (records read from journals carry their host).
    package private(set) var perHost: [String: Int] = [:]
    /// Records per histogram bucket start.
    package private(set) var buckets: [Date: Int] = [:]
    /// Judged logins per verdict.
    package private(set) var perVerdict: [VerdictCode: Int] = [:]
    /// How many logins had at least one verdict.
    package private(set) var judgedCount = 0
    /// The latest judged logins, oldest first (at most ``judgedShown``).
    package private(set) var judged: [WireRecord] = []
    /// How many judged logins the report lists.
    package static let judgedShown = 10
    private var failureTimes: [String: [Date]] = [:]
    private var secretAccounts: [String: Set<String>] = [:]
    /// The histogram's bucket width.
    package let bucket: TimeInterval
    /// Whose records count; `nil` counts everyone's.
    package let trusted: TrustedSenders?

    /// A report with histogram buckets of `bucket` seconds (an hour by default) of the records of
    /// `trusted` senders (`nil`: of every sender).
    package init(bucket: TimeInterval = 3600, trusted: TrustedSenders? = .rootOnly) {
        self.bucket = bucket
        self.trusted = trusted
    }

    /// Counts one record, or only that it was left out, when its sender is not trusted (a record
    /// read from a journal entry without the sender's uid is not trusted either).
    package mutating func add(_ record: WireRecord) {
        if let trusted, !(record.peer.map { trusted.trusts($0.uid, sending: record.signal) } ?? false) {
            untrusted += 1
            return
        }
        total += 1
        if let host = record.host { perHost[host, default: 0] += 1 }
        perSignal[record.signal, default: 0] += 1
        let received = record.received
        let start = Date(timeIntervalSince1970: (received.timeIntervalSince1970 / bucket).rounded(.down) * bucket)
        buckets[start, default: 0] += 1
        if !record.verdicts.isEmpty {
            for verdict in record.verdicts { perVerdict[verdict.code, default: 0] += 1 }
            judgedCount += 1
            judged.append(record)
            if judged.count > 4 * Self.judgedShown {
                judged = Array(judged.sorted { $0.seq < $1.seq }.suffix(Self.judgedShown))
            }
        }
        guard record.signal == .userLoginFailed else { return }
        let user = record.user ?? "(unknown)"
        failuresPerUser[user, default: 0] += 1
        if let address = record.remoteAddr { failuresPerAddress[address, default: 0] += 1 }
        failureTimes[user, default: []].append(received)
        for (key, value) in record.credentials ?? [:] where Redactor.looksSensitive(key) {
            if let hash = value.stringValue, HashedName.isHashed(hash) {
                secretAccounts[hash, default: []].insert(user)
            }
        }
    }

    /// The `count` largest entries of `table`, largest first (ties by name).
    package static func top(_ table: [String: Int], _ count: Int) -> [(String, Int)] {
        table.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map {
            ($0.key, $0.value)
        }
    }

    /// Accounts with at least `threshold` failures within `window` seconds.
    package func bursts(threshold: Int, window: TimeInterval) -> [BurstHint] {
        var hints: [BurstHint] = []
        for (user, unsorted) in failureTimes {
            let times = unsorted.sorted()
            var best = 0
            var bestStart = times.first ?? Date()
            var low = 0
            for high in times.indices {
                while times[high].timeIntervalSince(times[low]) > window { low += 1 }
                if high - low + 1 > best {
                    best = high - low + 1
                    bestStart = times[low]
                }
            }
            if best >= threshold { hints.append(BurstHint(user: user, failures: best, start: bestStart)) }
        }
        return hints.sorted { $0.failures != $1.failures ? $0.failures > $1.failures : $0.user < $1.user }
    }

    /// Secrets (keyed hashes, hmac mode only) tried against at least `threshold` accounts.
    package func sprays(threshold: Int) -> [SprayHint] {
        secretAccounts.filter { $0.value.count >= threshold }
            .map { SprayHint(secretHash: $0.key, accounts: $0.value.count) }
            .sorted { $0.accounts != $1.accounts ? $0.accounts > $1.accounts : $0.secretHash < $1.secretHash }
    }

    /// What `authsignal report` prints: the totals, the `top` accounts and addresses by failures,
    /// the histogram, accounts with `threshold` failures within `window` seconds, and secrets tried
    /// against `sprayAccounts` accounts. Names are escaped for the terminal; times in `timeZone`.
    package func render(
        top: Int, threshold: Int, window: TimeInterval, sprayAccounts: Int, timeZone: TimeZone = .current
    ) -> String {
        var text = "Records: \(total)\n"
        if untrusted > 0 {
            text +=
                "  (\(untrusted) more from senders that are not trusted, left out: --include-untrusted counts them)\n"
        }
        // The auth signals always; the password, account and lifecycle ones when there are any.
        let shown = AuthSignal.allCases.filter { $0.family == .authentication || perSignal[$0, default: 0] > 0 }
        let width = max(8, (shown.map(\.shortName.count).max() ?? 0) + 2)
        for signal in shown {
            let name = signal.shortName.padding(toLength: width, withPad: " ", startingAt: 0)
            text += "  \(name)\(perSignal[signal] ?? 0)\n"
        }
        if !perHost.isEmpty {
            text += "\nRecords by host:\n"
            for (host, count) in Self.top(perHost, perHost.count) { text += Self.row(count, host) }
        }
        for (title, table) in [("accounts", failuresPerUser), ("remote addresses", failuresPerAddress)] {
            let rows = Self.top(table, top)
            guard !rows.isEmpty else { continue }
            text += "\nFailures by \(title) (top \(rows.count)):\n"
            for (name, count) in rows { text += Self.row(count, HashedName.abbreviated(name)) }
        }
        if !buckets.isEmpty {
            text += "\nRecords per \(bucket >= 86400 ? "day" : "hour"):\n"
            let largest = buckets.values.max() ?? 1
            let formatter = DateFormatter()
            formatter.dateFormat = bucket >= 86400 ? "yyyy-MM-dd" : "yyyy-MM-dd HH:00"
            formatter.timeZone = timeZone
            for start in buckets.keys.sorted() {
                let count = buckets[start] ?? 0
                let bar = String(repeating: "#", count: max(1, count * 40 / largest))
                text += "  \(formatter.string(from: start))  \(Self.padded(count))  \(bar)\n"
            }
        }
        let bursts = bursts(threshold: threshold, window: window)
        if !bursts.isEmpty {
            text += "\nAccounts with \(threshold)+ failures within \(Int(window / 60)) minutes (brute force?):\n"
            for hint in bursts {
                text +=
                    "  \(DisplaySafe.escaped(hint.user)): \(hint.failures) failures from \(RFC3339.format(hint.start))\n"
            }
        }
        let sprays = sprays(threshold: sprayAccounts)
        if !sprays.isEmpty {
            text += "\nOne password tried against \(sprayAccounts)+ accounts (spraying?):\n"
            for hint in sprays { text += "  \(hint.secretHash): \(hint.accounts) accounts\n" }
        }
        if !perVerdict.isEmpty {
            let logins = perVerdict.values.reduce(0, +)
            text += "\nVerdicts (\(logins) on \(judgedCount) logins; docs/verdicts.md):\n"
            for code in VerdictCode.allCases {
                if let count = perVerdict[code] { text += Self.row(count, code.rawValue) }
            }
            let latest = judged.sorted { $0.seq < $1.seq }.suffix(Self.judgedShown)
            text += "Latest judged logins:\n"
            for record in latest {
                let user = DisplaySafe.escaped(record.user.map(HashedName.abbreviated) ?? "-")
                let from = record.remoteAddr.map { " from \(DisplaySafe.escaped($0))" } ?? ""
                text += "  \(RFC3339.format(record.received))  seq \(record.seq)  \(user)\(from)\n"
                for verdict in record.verdicts {
                    text += "    \(verdict.code.rawValue): \(DisplaySafe.escaped(verdict.reason))\n"
                }
            }
        }
        let shownUsers = Self.top(failuresPerUser, top).map(\.0) + bursts.map(\.user)
        if shownUsers.contains(where: HashedName.isHashed) { text += "\n" + HashedName.legend + "\n" }
        return text
    }

    private static func row(_ count: Int, _ name: String) -> String {
        "  \(padded(count))  \(DisplaySafe.escaped(name))\n"
    }

    private static func padded(_ count: Int) -> String {
        let text = String(count)
        return text.count >= 7 ? text : String(repeating: " ", count: 7 - text.count) + text
    }
}
