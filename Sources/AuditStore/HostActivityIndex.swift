package import AuthSignalProtocol
import Foundation
import GRDB

/// One host's sessions and accounts kept in an SQLite file of their own, for a collector
/// (docs/fleet.md): the tables of a log (``ActivityBooks``), fed from the host's journal entries
/// by the same rules, with where in its journal files the feeding stopped. Derived data, a cache:
/// deleting the file costs only the time to build it again.
package final class HostActivityIndex {
    /// The file's layout version (`PRAGMA user_version`): a file of another one is built anew.
    static let version = 1
    private let queue: DatabaseQueue

    /// Opens the index at `path`, making it (or making it anew, when it is of another layout) as
    /// needed.
    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "authsignal.host-activity"
        if let existing = try? DatabaseQueue(path: path, configuration: configuration),
            (try? existing.read({ db in try Int.fetchOne(db, sql: "PRAGMA user_version") })) == Self.version
        {
            queue = existing
            return
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: ActivityBooks.schema)
            try db.execute(
                sql: """
                    -- A user's sessions, for `last --user` (a log finds them through records_by_user).
                    CREATE INDEX sessions_user ON sessions(user, start);
                    -- Where feeding stopped: the last entry read (a journal cursor) and the highest
                    -- seq applied, below which an entry the uploader sent again is skipped.
                    CREATE TABLE fed (id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT, seq INTEGER NOT NULL);
                    INSERT INTO fed (id, cursor, seq) VALUES (1, NULL, 0);
                    PRAGMA user_version = \(Self.version);
                    """)
        }
    }

    /// The journal cursor of the last entry fed, if any.
    package func cursor() throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT cursor FROM fed") }
    }

    /// Applies the host's next records in one transaction (each with whether its daemon trusted
    /// the sender, as ``HostActivity/apply(_:trusted:)`` takes it) and notes `cursor` as where
    /// they end. A record at or below the highest seq applied is one sent again, and skipped.
    package func feed(_ records: [(record: WireRecord, trusted: Bool)], through cursor: String) throws {
        try queue.write { db in
            var applied = try Int64.fetchOne(db, sql: "SELECT seq FROM fed") ?? 0
            var sessions = SessionOverlay(stored: StoredSessions(db))
            var accounts = AccountOverlay(stored: StoredAccounts(db))
            for (record, trusted) in records where record.seq > applied {
                applied = record.seq
                try ActivityBooks.apply(record, trusted: trusted, to: &sessions, &accounts)
            }
            try sessions.write()
            try accounts.write()
            try db.execute(sql: "UPDATE fed SET cursor = ?, seq = ?", arguments: [cursor, applied])
        }
    }

    /// The sessions `filter` selects, its limit aside (all that could be within it are
    /// returned), in its order, on a host in boot `context`, each named `host`.
    package func sessions(matching filter: SessionFilter, context: BootContext, host: String) throws -> [WireSession] {
        let rows = try queue.read { db in try Self.candidates(db, filter) }
        return rows.filter { $0.matches(filter, context) }.inOrder(filter.order).map { row in
            var session = row.wire(context)
            session.host = host
            return session
        }
    }

    /// The sessions that may match `filter`, read through the index that fits it.
    private static func candidates(_ db: Database, _ filter: SessionFilter) throws -> [SessionRow] {
        let stored = StoredSessions(db)
        if let user = filter.user {
            return try stored.rows("SELECT \(SessionRow.selectList) FROM sessions WHERE user = ?", [user])
        }
        if filter.openOnly {
            return try stored.rows(
                "SELECT \(SessionRow.selectList) FROM sessions WHERE logout_seq IS NULL AND gone_by IS NULL", [])
        }
        let (lower, upper) = filter.window
        guard let lower else {
            // No lower bound: the newest (or oldest) sessions begun before `upper`, at most the limit.
            let direction = filter.order == .ascending ? "ASC" : "DESC"
            return try stored.rows(
                """
                SELECT \(SessionRow.selectList) FROM sessions INDEXED BY sessions_start WHERE start < ?
                ORDER BY start \(direction), login_seq \(direction) LIMIT ?
                """, [upper ?? Int64.max, filter.limit ?? -1])
        }
        // Begun by `lower` and lasting beyond it, then begun inside the window.
        return try stored.lasting(beyond: lower, through: Int64.max)
            + stored.rows(
                "SELECT \(SessionRow.selectList) FROM sessions INDEXED BY sessions_start WHERE start > ? AND start < ?",
                [lower, upper ?? Int64.max])
    }

    /// The accounts `filter` selects, in name order, each named `host`.
    package func accounts(matching filter: AccountFilter, host: String) throws -> [WireAccount] {
        try queue.read { db in try StoredAccounts(db).all(user: filter.user) }.filter { $0.matches(filter) }.map {
            var account = $0
            account.host = host
            return account
        }
    }
}
