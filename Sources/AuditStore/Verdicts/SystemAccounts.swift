import Foundation
import Synchronization

/// What `system-account-login` needs to know of an account: its uid and login shell.
package struct AccountFacts: Sendable, Hashable {
    package var uid: UInt32
    package var shell: String

    package init(uid: UInt32, shell: String) {
        self.uid = uid
        self.shell = shell
    }

    /// Whether the shell refuses interactive logins (`nologin`, `false`).
    package var refusesLogins: Bool {
        let name = shell.split(separator: "/").last.map(String.init) ?? shell
        return name == "nologin" || name == "false"
    }
}

/// The accounts of a passwd file (`/etc/passwd`), read again when the file changes: where the
/// writer's judge learns an account's uid and shell. System accounts are local by nature, and
/// reading the file keeps the name service (sssd, LDAP, systemd's user database, any of which may
/// wait) off the writer's thread; an account only those know is never a system account here.
package final class LocalAccounts: Sendable {
    /// This host's accounts.
    package static let system = LocalAccounts(path: "/etc/passwd")

    private struct Snapshot {
        var accounts: [String: AccountFacts] = [:]
        var identity: [Int] = []
        var checked = ContinuousClock.now - .seconds(10)
    }

    private let path: String
    private let snapshot = Mutex(Snapshot())

    /// The accounts of the passwd file at `path`.
    package init(path: String) { self.path = path }

    /// The uid and shell of `name`, or `nil` when the file has no such account. The file is
    /// looked at again (one `stat`) at most once a second, and read again when it changed.
    package func facts(of name: String) -> AccountFacts? {
        snapshot.withLock { snapshot in
            let now = ContinuousClock.now
            if now - snapshot.checked >= .seconds(1) {
                snapshot.checked = now
                let identity = Self.identity(of: path)
                if identity != snapshot.identity {
                    snapshot.identity = identity
                    snapshot.accounts = Self.read(path)
                }
            }
            return snapshot.accounts[name]
        }
    }

    /// What changes when the file is replaced or rewritten: device, inode, size, modification.
    private static func identity(of path: String) -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        return [
            Int(info.st_dev), Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec),
            Int(info.st_mtim.tv_nsec),
        ]
    }

    /// `name:password:uid:gid:gecos:home:shell` lines; others (NIS `+`/`-` entries, damaged
    /// lines) are skipped.
    static func read(_ path: String) -> [String: AccountFacts] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        var accounts: [String: AccountFacts] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 7, let first = fields[0].first, first != "+", first != "-",
                let uid = UInt32(fields[2])
            else { continue }
            accounts[String(fields[0])] = AccountFacts(uid: uid, shell: String(fields[6]))
        }
        return accounts
    }
}
