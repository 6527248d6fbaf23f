package import AuthSignalProtocol
import Foundation

/// What the account files say at one moment, without a secret: each account's uid, primary gid,
/// shell and whether its password is locked (from the shadow file: only whether the field starts
/// with `!`; the hash itself is never kept), and each group's members (the group file's, with the
/// gshadow file's). Two snapshots compared give the account changes between them.
package struct AccountSnapshot: Codable, Equatable, Sendable {
    /// One account.
    package struct Account: Codable, Equatable, Sendable {
        package var uid: UInt32
        package var gid: UInt32
        package var shell: String
        /// Whether the password is locked; `nil` when the shadow file could not be read.
        package var locked: Bool?
    }

    /// One group.
    package struct Group: Codable, Equatable, Sendable {
        package var gid: UInt32
        /// Its members, sorted.
        package var members: [String]
    }

    /// The files a snapshot is read from.
    package struct Files: Sendable, Equatable {
        package var passwd = "/etc/passwd"
        package var shadow = "/etc/shadow"
        package var group = "/etc/group"
        package var gshadow = "/etc/gshadow"

        package init() {}
    }

    /// The accounts, by name.
    package var accounts: [String: Account] = [:]
    /// The groups, by name.
    package var groups: [String: Group] = [:]

    package init(accounts: [String: Account] = [:], groups: [String: Group] = [:]) {
        self.accounts = accounts
        self.groups = groups
    }

    /// Reads `files`. The passwd and group files must be readable; the shadow and gshadow files
    /// may not be (then locks are unknown, and the group file's members are taken alone), which
    /// `unreadable` names.
    package static func read(_ files: Files) throws -> (snapshot: AccountSnapshot, unreadable: [String]) {
        var snapshot = AccountSnapshot()
        var unreadable: [String] = []
        for fields in try lines(files.passwd) where fields.count >= 7 {
            guard let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { continue }
            snapshot.accounts[fields[0]] = Account(uid: uid, gid: gid, shell: fields[6], locked: nil)
        }
        if let shadow = try? lines(files.shadow) {
            for fields in shadow where fields.count >= 2 {
                snapshot.accounts[fields[0]]?.locked = fields[1].hasPrefix("!")
            }
        } else {
            unreadable.append(files.shadow)
        }
        var members: [String: Set<String>] = [:]
        for fields in try lines(files.group) where fields.count >= 4 {
            guard let gid = UInt32(fields[2]) else { continue }
            snapshot.groups[fields[0]] = Group(gid: gid, members: [])
            members[fields[0]] = Set(fields[3].split(separator: ",").map(String.init))
        }
        if let gshadow = try? lines(files.gshadow) {
            for fields in gshadow where fields.count >= 4 && members[fields[0]] != nil {
                members[fields[0]]?.formUnion(fields[3].split(separator: ",").map(String.init))
            }
        } else {
            unreadable.append(files.gshadow)
        }
        for (name, set) in members { snapshot.groups[name]?.members = set.sorted() }
        return (snapshot, unreadable)
    }

    /// The fields of each line of the file at `path` (split at `:`), comments and blank lines left out.
    private static func lines(_ path: String) throws -> [[String]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { line in
            line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// One change between two snapshots, as the record that tells it.
    package struct Change: Equatable, Sendable {
        package var signal: AuthSignal
        package var user: String
        package var request: JSONObject
    }

    /// What changed from `self` to `new`: accounts added, locks changed, group memberships
    /// gained and lost, accounts removed (in that order, each sorted by name).
    package func changes(to new: AccountSnapshot, files: Files) -> [Change] {
        var changes: [Change] = []
        for name in new.accounts.keys.sorted() where accounts[name] == nil {
            let account = new.accounts[name]!
            changes.append(
                Change(
                    signal: .accountAdded, user: name,
                    request: [
                        "uid": .int(Int64(account.uid)), "gid": .int(Int64(account.gid)),
                        "shell": .string(account.shell), "file": .string(files.passwd),
                    ]))
        }
        for name in new.accounts.keys.sorted() {
            guard let before = accounts[name]?.locked, let after = new.accounts[name]?.locked, before != after else {
                continue
            }
            changes.append(
                Change(
                    signal: after ? .accountLocked : .accountUnlocked, user: name,
                    request: ["uid": .int(Int64(new.accounts[name]!.uid)), "file": .string(files.shadow)]))
        }
        for group in Set(groups.keys).union(new.groups.keys).sorted() {
            let before = Set(groups[group]?.members ?? [])
            let after = Set(new.groups[group]?.members ?? [])
            let gid = (new.groups[group] ?? groups[group]).map { Int64($0.gid) } ?? 0
            for (members, change) in [(after.subtracting(before), "added"), (before.subtracting(after), "removed")] {
                for member in members.sorted() {
                    changes.append(
                        Change(
                            signal: .groupMembershipChanged, user: member,
                            request: [
                                "group": .string(group), "gid": .int(gid), "change": .string(change),
                                "file": .string(files.group),
                            ]))
                }
            }
        }
        for name in accounts.keys.sorted() where new.accounts[name] == nil {
            changes.append(
                Change(
                    signal: .accountRemoved, user: name,
                    request: ["uid": .int(Int64(accounts[name]!.uid)), "file": .string(files.passwd)]))
        }
        return changes
    }
}
