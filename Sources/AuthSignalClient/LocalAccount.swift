import AuditStore
import Foundation

/// An account of this host, as the name service lists it (files, and sssd or LDAP when they
/// enumerate).
package struct LocalAccount: Sendable, Hashable {
    /// The name.
    package var name: String
    /// The uid.
    package var uid: UInt32
    /// The login shell.
    package var shell: String

    /// Whether the shell refuses logins (`nologin`, `false`).
    package var refusesLogins: Bool { AccountFacts(uid: uid, shell: shell).refusesLogins }

    /// Every account `getpwent` lists.
    package static func all() -> [LocalAccount] {
        var accounts: [LocalAccount] = []
        setpwent()
        while let entry = getpwent() {
            let entry = entry.pointee
            accounts.append(
                LocalAccount(
                    name: String(cString: entry.pw_name), uid: entry.pw_uid,
                    shell: entry.pw_shell.map { String(cString: $0) } ?? ""))
        }
        endpwent()
        return accounts
    }

    /// The first uid of user (not system) accounts: `UID_MIN` in `loginDefs`, else 1000, as
    /// useradd decides.
    package static func userUIDMinimum(loginDefs: String = "/etc/login.defs") -> UInt32 {
        guard let text = try? String(contentsOfFile: loginDefs, encoding: .utf8) else { return 1000 }
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[0] == "UID_MIN", let value = UInt32(words[1]) { return value }
        }
        return 1000
    }
}
