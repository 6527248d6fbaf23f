import AuthSignalCore
import AuthSignalProtocol
import Foundation

/// Judges trusted senders' events in seq order, as the writer commits them or as a replay reads
/// them back, and says which logins are suspicious and why (docs/verdicts.md).
///
/// Everything it knows it learned from the events it was shown, so the same history always gives
/// the same verdicts (account facts aside: those are asked of the system when a login is judged).
/// What it keeps is bounded: a digest per source an account logged in from, the last failures
/// per account and per source within the window, and the open sessions (at most
/// ``maximumSessions``).
struct VerdictJudge {
    let settings: VerdictSettings
    /// Whose history it judges against: `nil` for one log's, `.fleet` for the records of every
    /// host of a collector (``FleetJudge``), whose reasons name hosts.
    let scope: VerdictScope?
    private let accountFacts: @Sendable (String) -> AccountFacts?
    /// When the oldest event it was shown was stored: the log's age is measured from it.
    private var logStart: Int64?
    private var learned: [String: LearnedAccount] = [:]
    private var failuresAgainst: [String: FailureTrail] = [:]
    private var failuresFrom: [String: FailureTrail] = [:]
    private var sessions = OpenSessions()
    private var sources: LoginSources
    /// The largest event time seen, for expiring old failures.
    private var latest: Int64 = .min
    private var judgedSinceTidy = 0

    /// The most open sessions remembered; beyond it the oldest are forgotten (a login while one
    /// of those is still open is not seen as concurrent).
    static let maximumSessions = 65536
    /// The most accounts and sources with failures remembered, each.
    static let maximumTrails = 65536

    init(
        settings: VerdictSettings, scope: VerdictScope? = nil,
        accountFacts: @escaping @Sendable (String) -> AccountFacts?
    ) {
        self.settings = settings
        self.scope = scope
        self.accountFacts = accountFacts
        sources = LoginSources(ipv4Prefix: settings.ipv4Prefix, ipv6Prefix: settings.ipv6Prefix)
    }

    /// Learns from `event` and returns the verdicts on it (only a successful login from a sender
    /// that is not an import gets any).
    mutating func judge(_ event: ActivityEvent) -> [Verdict] { observe(event, judging: true) }

    /// Learns from `event` without judging it: what learning a stored history needs, without the
    /// reasons' text or the account look-ups.
    mutating func learn(_ event: ActivityEvent) { _ = observe(event, judging: false) }

    private mutating func observe(_ event: ActivityEvent, judging: Bool) -> [Verdict] {
        if logStart == nil { logStart = event.received }
        latest = max(latest, event.at)
        judgedSinceTidy += 1
        if judgedSinceTidy >= 4096 { tidy() }
        // A logout needs no source.
        var source: LoginSource?
        if event.signal != .userLoggedOut, let address = event.remoteAddr { source = sources.source(of: address) }
        switch event.signal {
        case .userLoginFailed:
            if let user = event.user {
                failuresAgainst[user, default: FailureTrail()].add(
                    at: event.at, other: event.remoteAddr, host: event.host, settings)
            }
            if let source {
                failuresFrom[source.text, default: FailureTrail()].add(
                    at: event.at, other: event.user, host: event.host, settings)
            }
            return []
        case .userLoggedOut:
            sessions.see(event)
            sessions.end(event)
            return []
        case .userLoggedIn:
            sessions.see(event)
            var verdicts: [Verdict] = []
            if judging && !event.imported {
                verdicts = judgeLogin(event, source: source)
            }
            remember(login: event, source: source)
            return verdicts
        default:
            // Password, account and lifecycle records are not logins: nothing to judge or learn.
            return []
        }
    }

    private mutating func judgeLogin(_ event: ActivityEvent, source: LoginSource?) -> [Verdict] {
        let user = event.user ?? "(no user)"
        let from = event.remoteAddr.map { " from \($0)" } ?? ""
        var verdicts: [Verdict] = []
        if settings.judges(.firstSeenSource), let source, let reason = firstSeen(event, user, source) {
            verdicts.append(Verdict(.firstSeenSource, reason, scope: scope))
        }
        if settings.judges(.successAfterFailures), let reason = afterFailures(event, user, from, source) {
            verdicts.append(Verdict(.successAfterFailures, reason, scope: scope))
        }
        if settings.judges(.systemAccountLogin), let name = event.user, let facts = accountFacts(name) {
            if facts.uid >= 1, facts.uid <= settings.systemUIDMax {
                verdicts.append(
                    Verdict(
                        .systemAccountLogin,
                        "login of system account \(user) (uid \(facts.uid), at most \(settings.systemUIDMax))\(from)"))
            } else if facts.refusesLogins {
                verdicts.append(
                    Verdict(.systemAccountLogin, "login of \(user)\(from), whose shell \(facts.shell) refuses logins"))
            }
        }
        if settings.judges(.concurrentSources), let source, let user = event.user {
            let others = sessions.open(of: user).filter { $0.source != nil && $0.source != source }
            if let newest = others.max(by: { $0.seq < $1.seq }) {
                let address = event.remoteAddr ?? source.text
                let since = "since \(RFC3339.format(microseconds: newest.start)) (seq \(newest.seq))"
                let open =
                    others.count == 1
                    ? "a session from \(newest.address ?? "?") is open \(since)"
                    : "\(others.count) sessions from other sources are open, the latest from "
                        + "\(newest.address ?? "?") \(since)"
                verdicts.append(Verdict(.concurrentSources, "login of \(user) from \(address) while \(open)"))
            }
        }
        if settings.judges(.outsideHours), let hours = settings.hours {
            let zone = settings.zone
            let date = Microseconds.date(event.at)
            if !hours.contains(date, in: zone) {
                verdicts.append(
                    Verdict(
                        .outsideHours,
                        "login of \(user)\(from) at \(Self.localTime(date, zone)), outside \(hours.description)"))
            }
        }
        return verdicts
    }

    /// Whether a login of `user` from `address` at `time` (µs) would be `first-seen-source`, by
    /// what the judge knows now.
    func isFirstSeen(user: String, address: String, at time: Int64) -> Bool {
        guard settings.judges(.firstSeenSource) else { return false }
        let login = ActivityEvent(
            seq: 0, signal: .userLoggedIn, at: time, sender: "", user: user, remoteAddr: address, service: nil,
            tty: nil, key: nil, peerUID: 0, received: time)
        let source = LoginSource(address: address, ipv4Prefix: settings.ipv4Prefix, ipv6Prefix: settings.ipv6Prefix)
        return firstSeen(login, user, source) != nil
    }

    private func firstSeen(_ event: ActivityEvent, _ user: String, _ source: LoginSource) -> String? {
        let account = learned[user] ?? LearnedAccount()
        guard !account.sources.contains(source.digest) else { return nil }
        let logAge = event.received - (logStart ?? event.received)
        let learnedEnough =
            account.logins >= settings.learnLogins || logAge >= Int64(settings.learnDays) * 86_400_000_000
        guard learnedEnough else { return nil }
        let address = event.remoteAddr ?? source.text
        var place = address == source.text ? address : "\(address) (\(source.text))"
        if scope == .fleet { place += " on any host of the fleet, here \(event.host ?? "?")" }
        guard account.logins > 0 else {
            let before = scope == .fleet ? "on any host of the fleet" : "in this log"
            return "first login of \(user) from \(place); the account has not logged in before \(before)"
        }
        let sources = account.sources.count == 1 ? "1 source" : "\(account.sources.count) sources"
        var logins = account.logins == 1 ? "1 earlier login" : "\(account.logins) earlier logins"
        if scope == .fleet { logins += account.hosts.count == 1 ? " on 1 host" : " on \(account.hosts.count) hosts" }
        let streak = account.streak == 1 ? "the last" : "the last \(account.streak)"
        return
            "first login of \(user) from \(place); \(logins) came from \(sources), \(streak) from \(account.lastSource)"
    }

    private func afterFailures(_ event: ActivityEvent, _ user: String, _ from: String, _ source: LoginSource?)
        -> String?
    {
        let since = event.at - Int64(settings.failureWindowSeconds) * 1_000_000
        var parts: [String] = []
        var hosts: Set<String> = []
        let on = { (trail: FailureTrail) in self.scope == .fleet ? " on \(trail.lastHost ?? "?")" : "" }
        if let name = event.user, let trail = failuresAgainst[name], let count = trail.count(since: since, settings) {
            parts.append("\(count) against \(user), the last from \(trail.lastOther ?? "no address")\(on(trail))")
            hosts.formUnion(trail.hosts(since: since))
        }
        if let source, let trail = failuresFrom[source.text], let count = trail.count(since: since, settings) {
            parts.append("\(count) from \(source.text), the last against \(trail.lastOther ?? "no user")\(on(trail))")
            hosts.formUnion(trail.hosts(since: since))
        }
        guard !parts.isEmpty else { return nil }
        var window = "within \(settings.failureWindowSeconds) s"
        if scope == .fleet {
            // A host judges failures on itself alone: the fleet speaks only when another host's
            // failures count, spread over hosts or all elsewhere.
            let here = event.host ?? "?"
            guard hosts.contains(where: { $0 != here }) else { return nil }
            hosts.insert(here)
            window += " on \(hosts.count) hosts of the fleet (\(hosts.sorted().joined(separator: ", ")))"
            return "login of \(user)\(from) on \(here) after failed logins \(window): " + parts.joined(separator: "; ")
        }
        return "login of \(user)\(from) after failed logins \(window): " + parts.joined(separator: "; ")
    }

    /// What a login teaches: it ends the failures before it, begins a session, and adds its
    /// source to the account's.
    private mutating func remember(login event: ActivityEvent, source: LoginSource?) {
        // A success ends the failures it followed: the next success is judged on new ones.
        if let user = event.user { failuresAgainst[user] = nil }
        if let source { failuresFrom[source.text] = nil }
        sessions.begin(event, source: source)
        guard let user = event.user, let source else { return }
        learned[user, default: LearnedAccount()].add(source, host: scope == .fleet ? event.host : nil)
    }

    /// Forgets failures older than the window and, beyond the bounds, the oldest trails and
    /// sessions.
    private mutating func tidy() {
        judgedSinceTidy = 0
        let cutoff = latest - Int64(settings.failureWindowSeconds) * 1_000_000
        for trails in [\VerdictJudge.failuresAgainst, \VerdictJudge.failuresFrom] {
            self[keyPath: trails] = self[keyPath: trails].filter { $0.value.last >= cutoff }
            if self[keyPath: trails].count > Self.maximumTrails {
                let kept = self[keyPath: trails].sorted { $0.value.last > $1.value.last }.prefix(Self.maximumTrails / 2)
                self[keyPath: trails] = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
            }
        }
        sessions.bound(to: Self.maximumSessions)
    }

    /// `date` as `Sat 2026-12-05 23:10 CET` in `zone`.
    static func localTime(_ date: Date, _ zone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "EEE yyyy-MM-dd HH:mm zzz"
        return formatter.string(from: date)
    }
}

/// What the judge has learned of one account's logins.
struct LearnedAccount {
    var logins = 0
    /// Digests of the sources it logged in from.
    var sources: Set<UInt64> = []
    /// The source of its last login, and how many logins in a row came from it.
    var lastSource = ""
    var streak = 0
    /// The hosts it logged in on, for a fleet's judge (empty for one log's).
    var hosts: Set<String> = []

    mutating func add(_ source: LoginSource, host: String?) {
        logins += 1
        sources.insert(source.digest)
        if let host { hosts.insert(host) }
        if source.text == lastSource {
            streak += 1
        } else {
            lastSource = source.text
            streak = 1
        }
    }
}

/// The failures against one account or from one source since its last success: their number, and
/// the times of the last few (as many as the threshold).
struct FailureTrail {
    private(set) var count = 0
    private(set) var first: Int64 = .max
    private(set) var last: Int64 = .min
    /// The address (for an account's trail) or the account (for a source's) of the last failure.
    private(set) var lastOther: String?
    /// The host of the last failure, on a fleet's collector.
    private(set) var lastHost: String?
    /// The times and hosts of the last `threshold` failures, oldest first.
    private var recent: [(time: Int64, host: String?)] = []

    mutating func add(at time: Int64, other: String?, host: String?, _ settings: VerdictSettings) {
        count += 1
        first = min(first, time)
        last = max(last, time)
        lastOther = other
        lastHost = host
        recent.append((time, host))
        if recent.count > settings.failureThreshold { recent.removeFirst(recent.count - settings.failureThreshold) }
    }

    /// The hosts of the remembered failures at or after `since`.
    func hosts(since: Int64) -> Set<String> {
        Set(recent.filter { $0.time >= since }.compactMap(\.host))
    }

    /// How many failures lie at or after `since`, when at least the threshold do: the exact number
    /// when they all do, else "at least N".
    func count(since: Int64, _ settings: VerdictSettings) -> String? {
        let recent = recent.filter { $0.time >= since }.count
        guard recent >= settings.failureThreshold else { return nil }
        return first >= since ? "\(count) failures" : "at least \(recent) failures"
    }
}
