public import AuthSignalCore
public import Foundation

/// An aureport-style summary of audit records: counts per signal, failures per user and per
/// address, a time histogram, and brute-force and password-spraying hints.
public struct Report {
    /// Accounts whose failures reached the threshold within the window.
    public struct BurstHint: Equatable {
        /// The account (a keyed hash for unknown accounts).
        public let user: String
        /// The most failures within one window.
        public let failures: Int
        /// When that window began.
        public let start: Date
    }

    /// One attempted secret (by its keyed hash) tried against several accounts.
    public struct SprayHint: Equatable {
        /// The keyed hash of the secret.
        public let secretHash: String
        /// How many distinct accounts it was tried against.
        public let accounts: Int
    }

    /// Records counted.
    public private(set) var total = 0
    /// Records per signal.
    public private(set) var perSignal: [AuthSignal: Int] = [:]
    /// Failures per account.
    public private(set) var failuresPerUser: [String: Int] = [:]
    /// Failures per remote address.
    public private(set) var failuresPerAddress: [String: Int] = [:]
    /// Records per host (records read from journals carry their host).
    public private(set) var perHost: [String: Int] = [:]
    /// Records per histogram bucket start.
    public private(set) var buckets: [Date: Int] = [:]
    private var failureTimes: [String: [Date]] = [:]
    private var secretAccounts: [String: Set<String>] = [:]
    /// The histogram's bucket width.
    public let bucket: TimeInterval

    /// A report with histogram buckets of `bucket` seconds (an hour by default).
    public init(bucket: TimeInterval = 3600) {
        self.bucket = bucket
    }

    /// Counts one record (as the daemon sends it).
    public mutating func add(_ record: JSONObject) {
        guard let signal = record["signal"]?.stringValue.flatMap(AuthSignal.init(rawValue:)),
            let received = record["received"]?.stringValue.flatMap(RFC3339.parse)
        else { return }
        total += 1
        if let host = record["host"]?.stringValue { perHost[host, default: 0] += 1 }
        perSignal[signal, default: 0] += 1
        let start = Date(timeIntervalSince1970: (received.timeIntervalSince1970 / bucket).rounded(.down) * bucket)
        buckets[start, default: 0] += 1
        guard signal == .userLoginFailed else { return }
        let user = record["user"]?.stringValue ?? "(unknown)"
        failuresPerUser[user, default: 0] += 1
        if let address = record["request"]?["remote_addr"]?.stringValue { failuresPerAddress[address, default: 0] += 1 }
        failureTimes[user, default: []].append(received)
        if case .object(let credentials)? = record["credentials"] {
            for (key, value) in credentials where Redactor.looksSensitive(key) {
                if let hash = value.stringValue, hash.hasPrefix("hmac-sha256:") {
                    secretAccounts[hash, default: []].insert(user)
                }
            }
        }
    }

    /// The `count` largest entries of `table`, largest first (ties by name).
    public static func top(_ table: [String: Int], _ count: Int) -> [(String, Int)] {
        table.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map {
            ($0.key, $0.value)
        }
    }

    /// Accounts with at least `threshold` failures within `window` seconds.
    public func bursts(threshold: Int, window: TimeInterval) -> [BurstHint] {
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
    public func sprays(threshold: Int) -> [SprayHint] {
        secretAccounts.filter { $0.value.count >= threshold }
            .map { SprayHint(secretHash: $0.key, accounts: $0.value.count) }
            .sorted { $0.accounts != $1.accounts ? $0.accounts > $1.accounts : $0.secretHash < $1.secretHash }
    }
}
