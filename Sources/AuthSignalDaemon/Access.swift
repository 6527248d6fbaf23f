package import AuthSignalCore
package import AuthSignalProtocol
import Glibc

/// Who may do what (`[Access]`): root always; emitting to the emit lists, reading (query, follow,
/// stats, verify) to the read lists and to the daemon's own user (the alert service runs as it,
/// and may read the database file anyway), keyed-hash look-ups to the hash lists. A list names users or groups by name or number.
package struct AccessPolicy: Sendable, Hashable {
    /// The uids allowed to emit.
    package let emitUIDs: Set<UInt32>
    /// The gids whose members may emit.
    package let emitGIDs: Set<UInt32>
    /// The uids allowed to read.
    package let readUIDs: Set<UInt32>
    /// The gids whose members may read.
    package let readGIDs: Set<UInt32>
    /// The uids allowed keyed-hash look-ups.
    package let hashUIDs: Set<UInt32>
    /// The gids whose members may look up keyed hashes.
    package let hashGIDs: Set<UInt32>
    /// The senders whose events are trusted: root and `TrustedUsers`.
    package let trusted: TrustedSenders
    /// Names in the lists that match no account or group (reported at start and reload).
    package let unresolved: [String]
    /// The daemon's own user, who may read.
    package let ownUID: UInt32

    /// Resolves the `[Access]` lists of `config` against the system's accounts and groups;
    /// `ownUID` is the daemon's user.
    package init(_ config: DaemonConfig, ownUID: UInt32 = geteuid()) {
        var unresolved: [String] = []
        /// Numbers as they are, names through `lookup`; unknown names are reported.
        func resolve(_ names: [String], _ key: String, _ kind: String, _ lookup: (String) -> UInt32?) -> Set<UInt32> {
            Set(
                names.compactMap { name in
                    if let id = UInt32(name) ?? lookup(name) { return id }
                    unresolved.append("\(key): no \(kind) \(name)")
                    return nil
                })
        }
        let users = { (names: [String], key: String) in resolve(names, key, "user") { getpwnam($0)?.pointee.pw_uid } }
        let groups = { (names: [String], key: String) in resolve(names, key, "group") { getgrnam($0)?.pointee.gr_gid } }
        emitUIDs = users(config.emitUsers, "Access.EmitUsers")
        emitGIDs = groups(config.emitGroups, "Access.EmitGroups")
        readUIDs = users(config.readUsers, "Access.ReadUsers")
        readGIDs = groups(config.readGroups, "Access.ReadGroups")
        hashUIDs = users(config.hashUsers, "Access.HashUsers")
        hashGIDs = groups(config.hashGroups, "Access.HashGroups")
        trusted = TrustedSenders(config) { unresolved.append("Access.TrustedUsers: no user \($0)") }
        self.unresolved = unresolved
        self.ownUID = ownUID
    }

    /// Whether `peer` may perform `request`.
    package func permits(_ request: ProtocolRequest, peer: PeerIdentity) -> Bool {
        let uid = peer.credentials.uid
        if uid == 0 { return true }
        switch AccessClass(request) {
        case .anyone: return true
        case .emit: return emitUIDs.contains(uid) || !emitGIDs.isDisjoint(with: peer.groups)
        case .read: return uid == ownUID || readUIDs.contains(uid) || !readGIDs.isDisjoint(with: peer.groups)
        case .hash: return hashUIDs.contains(uid) || !hashGIDs.isDisjoint(with: peer.groups)
        }
    }
}

/// Which `[Access]` lists decide a request.
package enum AccessClass: Sendable {
    /// `ping`: anyone who can connect.
    case anyone
    /// `emit`: EmitUsers, EmitGroups.
    case emit
    /// `query`, `follow`, `stats`, `verify`, `sessions`, `accounts`, `verdicts`, `notice`:
    /// ReadUsers, ReadGroups.
    case read
    /// `hash`: HashUsers, HashGroups.
    case hash

    /// The class of `request`.
    package init(_ request: ProtocolRequest) {
        switch request {
        case .ping: self = .anyone
        case .emit: self = .emit
        case .query, .follow, .stats, .verify, .sessions, .accounts, .verdicts, .notice: self = .read
        case .hash: self = .hash
        }
    }

    /// What a peer refused this class may not do, for the `forbidden` message.
    package var activity: String {
        switch self {
        case .anyone: "connect"
        case .emit: "emit events"
        case .read: "read the audit log"
        case .hash: "look up keyed hashes"
        }
    }
}

/// A connected peer: its kernel credentials and the groups its account is in.
package struct PeerIdentity: Sendable, Hashable {
    /// What SO_PEERCRED reported.
    package let credentials: PeerCredentials
    /// The peer's primary group and the supplementary groups of its account (`getgrouplist`).
    package let groups: Set<UInt32>

    /// A peer in exactly `groups`.
    package init(credentials: PeerCredentials, groups: Set<UInt32>) {
        self.credentials = credentials
        self.groups = groups
    }

    /// Looks up the groups of the account `credentials.uid` (NSS: may block).
    package init(credentials: PeerCredentials) {
        self.credentials = credentials
        var groups: Set<UInt32> = [credentials.gid]
        if let account = getpwuid(credentials.uid) {
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(account.pointee.pw_name, credentials.gid, &list, &count) < 0 {
                list = [gid_t](repeating: 0, count: Int(count))
                _ = getgrouplist(account.pointee.pw_name, credentials.gid, &list, &count)
            }
            groups.formUnion(list.prefix(Int(max(count, 0))))
        }
        self.groups = groups
    }
}
