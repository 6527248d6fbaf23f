import AuditStore
package import AuthSignalProtocol
import Foundation
import Systemd

/// `last`, `who` and `lastlog` over journals: each host's sessions and accounts, built from its
/// records by the rules of its log's tables (docs/sessions.md), then put side by side.
extension JournalHistory {
    /// The sessions `filter` selects on every host read, by login time in its order (a tie by
    /// host, then seq), up to its limit. Each host's sessions are judged against its own boot
    /// (``boot(of:)``): one begun in an earlier boot without a logout is gone. Read through
    /// `index` when given and this is a collector's directory of files named by sender, else from
    /// every login and logout in the files.
    package func sessions(matching filter: SessionFilter, index: FleetIndex? = nil) throws -> [WireSession] {
        var sessions: [WireSession] = []
        if let indexed = try index?.updated(self) {
            for (host, book, boot) in indexed {
                sessions += try book.sessions(matching: filter, context: boot, host: host)
            }
        } else {
            for book in try activity(of: [.userLoggedIn, .userLoggedOut], user: filter.user) {
                sessions += try book.sessions(matching: filter, context: boot(of: book.host))
            }
        }
        let key = { (session: WireSession) in (session.start, session.host ?? "", session.loginSeq) }
        sessions.sort { filter.order == .ascending ? key($0) < key($1) : key($0) > key($1) }
        return Array(sessions.prefix(filter.limit ?? sessions.count))
    }

    /// The accounts `filter` selects, one per host each was seen on: by name, then the newest
    /// login first (so an account's first row is its last login on any host), then by host.
    /// Read through `index` as ``sessions(matching:index:)`` is, but for one account: its row
    /// depends on its own logins and failures alone, which journal matches find faster than the
    /// index is fed (docs/benchmarks.md, bench-fleet).
    package func accounts(matching filter: AccountFilter, index: FleetIndex? = nil) throws -> [WireAccount] {
        let accounts: [WireAccount]
        if filter.user == nil, let indexed = try index?.updated(self) {
            accounts = try indexed.flatMap { host, book, _ in try book.accounts(matching: filter, host: host) }
        } else {
            accounts = try activity(of: [.userLoggedIn, .userLoginFailed], user: filter.user).flatMap {
                $0.accounts(matching: filter)
            }
        }
        let key = { (account: WireAccount) in
            (account.user, -(account.lastLogin?.time.timeIntervalSince1970 ?? -.infinity), account.host ?? "")
        }
        return accounts.sorted { key($0) < key($1) }
    }

    /// Each host's book of the records of `signals` (only `user`'s, when given).
    private func activity(of signals: [AuthSignal], user: String?) throws -> [HostActivity] {
        var books: [String?: HostActivity] = [:]
        try activity(of: signals, user: user) { entry in
            books[entry.record.host, default: HostActivity(host: entry.record.host)].apply(entry)
        }
        return Array(books.values)
    }
}

extension JournalActivityEntry {
    /// `record`, read from the entry `fields`, with what its daemon judged of the sender (for an
    /// entry of a daemon older than `AUTHSIGNAL_TRUSTED`, whether the sender was root, the one
    /// sender always trusted) and its log.
    init(record: WireRecord, fields: [String: [UInt8]]) {
        let trusted =
            fields[JournalFieldName.trusted.name].map { $0.elementsEqual("yes".utf8) } ?? (record.peer?.uid == 0)
        let log = fields[JournalFieldName.logID.name].map { String(decoding: $0, as: UTF8.self) }
        self.init(record: record, trusted: trusted, log: log)
    }
}
