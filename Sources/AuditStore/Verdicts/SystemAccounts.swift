import Foundation

/// What `system-account-login` needs to know of an account: its uid and login shell.
package struct AccountFacts: Sendable, Hashable {
    package var uid: UInt32
    package var shell: String

    package init(uid: UInt32, shell: String) {
        self.uid = uid
        self.shell = shell
    }

    /// Whether the shell refuses interactive logins (`nologin`, `false`).
    var refusesLogins: Bool {
        let name = shell.split(separator: "/").last.map(String.init) ?? shell
        return name == "nologin" || name == "false"
    }

    /// The account database's answer for `name` (`getpwnam_r`), or `nil` when it has none.
    @Sendable package static func system(_ name: String) -> AccountFacts? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return AccountFacts(uid: entry.pw_uid, shell: entry.pw_shell.map { String(cString: $0) } ?? "")
    }
}

/// Account facts remembered for a while: the judge asks for every judged login, and an uncached
/// look-up parses `/etc/passwd` (or asks sssd). Answers are kept for ``lifetime`` and at most
/// ``capacity`` of them (all are forgotten when it fills: the names asked are those of trusted
/// logins, so real accounts).
struct AccountFactsCache {
    let lookUp: @Sendable (String) -> AccountFacts?
    let lifetime: Duration = .seconds(60)
    let capacity = 16384
    private var answers: [String: (facts: AccountFacts?, at: ContinuousClock.Instant)] = [:]

    init(lookUp: @escaping @Sendable (String) -> AccountFacts?) { self.lookUp = lookUp }

    mutating func facts(of name: String) -> AccountFacts? {
        let now = ContinuousClock.now
        if let cached = answers[name], now - cached.at < lifetime { return cached.facts }
        if answers.count >= capacity { answers.removeAll(keepingCapacity: true) }
        let facts = lookUp(name)
        answers[name] = (facts, now)
        return facts
    }
}
