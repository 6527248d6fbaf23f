import Foundation
import Synchronization

/// Whether a name is an account on this system, remembered between look-ups.
///
/// The redactor asks this for every failed login's user name, and an uncached `getpwnam` is
/// expensive: glibc opens and parses `/etc/passwd`, and with `passwd: files systemd` an unknown
/// name (the usual case in a brute-force run) goes on to ask systemd's user database over varlink.
///
/// The cache follows account changes:
/// - every answer is forgotten as soon as `/etc/passwd` changes (`useradd`, `userdel`, `vipw`
///   all replace or rewrite it, which changes its inode, size or modification time), checked
///   with one `stat` per look-up;
/// - answers from other NSS sources (LDAP, sssd, systemd's dynamic users), which no file tells us
///   about, are asked again after ``lifetime``.
///
/// A stale answer errs safely in both directions: a name that just became an account is stored
/// keyed-hashed for at most ``lifetime``; a name that just stopped being one was an account name.
///
/// Names are chosen by clients, so at most ``capacity`` are remembered, in two generations of
/// half that each: when the newer fills it becomes the older and the oldest answers go, while a
/// name asked again from the older generation moves back to the newer. A spray of random names
/// therefore cannot push out the names that keep coming back (the site's real accounts).
package final class KnownAccounts: Sendable {
    /// The system's accounts, as the daemon's redactor asks about them.
    package static let system = KnownAccounts()

    /// How long an answer is trusted while `/etc/passwd` is unchanged.
    package let lifetime: Duration
    /// The most names remembered.
    package let capacity: Int
    /// Whether an uncached look-up may wait (on sssd, LDAP…): then callers that must not block
    /// ask ``cachedAnswer(_:)`` first and look up elsewhere.
    package let lookUpMayBlock: Bool
    private let passwdPath: String
    private let lookUp: @Sendable (String) -> Bool
    private let state = Mutex(State())

    private struct State {
        typealias Answers = [String: (known: Bool, at: ContinuousClock.Instant)]
        var newer: Answers = [:]
        var older: Answers = [:]
        var passwd: FileIdentity?

        mutating func forgetAll() {
            newer.removeAll(keepingCapacity: true)
            older.removeAll()
        }

        mutating func remember(_ name: String, _ answer: (known: Bool, at: ContinuousClock.Instant), half: Int) {
            if newer.count >= half {
                older = newer
                newer.removeAll(keepingCapacity: true)
            }
            newer[name] = answer
        }
    }

    /// A cache over `lookUp`, invalidated by changes to the file at `passwdPath`.
    /// - Parameters:
    ///   - lifetime: how long an answer is kept while the file is unchanged.
    ///   - capacity: the most names remembered.
    ///   - passwdPath: the account file whose changes clear the cache.
    ///   - lookUpMayBlock: whether `lookUp` may wait; by default, whether NSS's `passwd` sources
    ///     include one that is not local (``NameServiceSwitch``).
    ///   - lookUp: the uncached question; by default `getpwnam`.
    package init(
        lifetime: Duration = .seconds(30), capacity: Int = 16384, passwdPath: String = "/etc/passwd",
        lookUpMayBlock: Bool = NameServiceSwitch.mayBlock("passwd"),
        lookUp: @escaping @Sendable (String) -> Bool = Redactor.systemHasAccount
    ) {
        self.lookUpMayBlock = lookUpMayBlock
        self.lifetime = lifetime
        self.capacity = max(capacity, 2)
        self.passwdPath = passwdPath
        self.lookUp = lookUp
    }

    /// Whether `name` is an account, from the cache when the answer is still good.
    package func contains(_ name: String) -> Bool {
        let now = ContinuousClock.now
        let passwd = FileIdentity(path: passwdPath)
        if let cached = cachedAnswer(name, now: now, passwd: passwd) { return cached }
        // Asked outside the lock: NSS may block, and other names need not wait for it.
        let known = lookUp(name)
        let half = capacity / 2
        state.withLock { state in
            // A change seen meanwhile by another look-up cleared the cache: this answer may
            // predate it, so it is not kept.
            guard state.passwd == passwd else { return }
            state.remember(name, (known, now), half: half)
        }
        return known
    }

    /// Whether `name` is an account, when the cache still has a good answer; `nil` when only a
    /// look-up (which may block on NSS) could tell.
    package func cachedAnswer(_ name: String) -> Bool? {
        cachedAnswer(name, now: .now, passwd: FileIdentity(path: passwdPath))
    }

    private func cachedAnswer(_ name: String, now: ContinuousClock.Instant, passwd: FileIdentity?) -> Bool? {
        let half = capacity / 2
        return state.withLock { state -> Bool? in
            if state.passwd != passwd {
                state.forgetAll()
                state.passwd = passwd
            }
            if let answer = state.newer[name] {
                return now - answer.at < lifetime ? answer.known : nil
            }
            guard let answer = state.older.removeValue(forKey: name), now - answer.at < lifetime else { return nil }
            state.remember(name, answer, half: half)
            return answer.known
        }
    }
}
