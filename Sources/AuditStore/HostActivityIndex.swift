package import AuthSignalProtocol
package import Foundation
import GRDB

/// One host's sessions, accounts and records kept in an SQLite file of their own, for a collector
/// (docs/fleet.md): the tables of a log (``ActivityBooks``), fed from the host's journal entries
/// by the same rules, each record's facts a report counts, and where in its journal files the
/// feeding stopped. Derived data, a cache: deleting the file costs only the time to build it again.
package final class HostActivityIndex {
    /// The file's layout version (`PRAGMA user_version`): a file of another one is built anew.
    static let version = 3
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
                    -- Where feeding stopped: the last entry read (a journal cursor).
                    CREATE TABLE fed (id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT);
                    INSERT INTO fed (id, cursor) VALUES (1, NULL);
                    -- The host's audit logs ('' for entries without a log id): each one's
                    -- generation (LogGenerations) and the highest seq applied, at or below which
                    -- an entry the uploader sent again is skipped.
                    CREATE TABLE logs (log TEXT PRIMARY KEY, generation INTEGER NOT NULL, applied INTEGER NOT NULL)
                        WITHOUT ROWID;
                    -- Each record as `report` counts it, by the time it was received (µs); `key`
                    -- is its seq keyed by its log (LogGenerations). The credentials (redacted: keyed
                    -- hashes) of failures only, for the spraying hint.
                    CREATE TABLE records (
                        key INTEGER PRIMARY KEY, received INTEGER NOT NULL, signal TEXT NOT NULL,
                        sender TEXT NOT NULL, user TEXT, remote_addr TEXT,
                        peer_uid INTEGER, peer_gid INTEGER, peer_pid INTEGER,
                        verdicts TEXT, credentials TEXT
                    );
                    CREATE INDEX records_received ON records(received);
                    PRAGMA user_version = \(Self.version);
                    """)
        }
    }

    /// The journal cursor of the last entry fed, if any.
    package func cursor() throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT cursor FROM fed") }
    }

    /// Applies the host's next records in one transaction, as ``HostActivity/apply(_:)`` does,
    /// and notes `cursor` as where they end. A record at or below the highest seq applied of its
    /// log is one sent again, and skipped.
    package func feed(_ entries: [JournalActivityEntry], through cursor: String) throws {
        try queue.write { db in
            var numbers: [String: Int64] = [:]
            var applied: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT log, generation, applied FROM logs") {
                let log: String = row[0]
                let generation: Int64 = row[1]
                // Entries without a log id are generation 0, numbered by no name.
                if generation > 0 { numbers[log] = generation }
                applied[log] = row[2]
            }
            var generations = LogGenerations(numbers: numbers)
            var sessions = SessionOverlay(stored: StoredSessions(db))
            var accounts = AccountOverlay(stored: StoredAccounts(db))
            let insert = try db.makeStatement(
                sql: "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            for entry in entries where entry.record.seq > applied[entry.log ?? "", default: 0] {
                applied[entry.log ?? ""] = entry.record.seq
                var record = entry.record
                record.seq = generations.key(record.seq, log: entry.log)
                try ActivityBooks.apply(record, trusted: entry.trusted, to: &sessions, &accounts)
                try insert.execute(arguments: Self.row(record))
            }
            try sessions.write()
            try accounts.write()
            for (log, seq) in applied {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO logs (log, generation, applied) VALUES (?, ?, ?)",
                    arguments: [log, generations.numbers[log] ?? 0, seq])
            }
            try db.execute(sql: "UPDATE fed SET cursor = ?", arguments: [cursor])
        }
    }

    /// The columns of `record`'s row in `records`.
    private static func row(_ record: WireRecord) -> StatementArguments {
        var verdicts: String?
        if !record.verdicts.isEmpty {
            var bytes: [UInt8] = []
            Verdict.appendArray(record.verdicts, to: &bytes)
            verdicts = String(decoding: bytes, as: UTF8.self)
        }
        var credentials: String?
        if record.signal == .userLoginFailed, let object = record.credentials {
            credentials = String(decoding: CanonicalJSON.encode(object), as: UTF8.self)
        }
        return [
            record.seq, Microseconds.from(record.received), record.signal.rawValue, record.sender, record.user,
            record.remoteAddr, record.peer.map { Int64($0.uid) }, record.peer.map { Int64($0.gid) },
            record.peer.map { Int64($0.pid) }, verdicts, credentials,
        ]
    }

    /// Calls `each` with the host's records received in [`since`, `until`) (either open), in
    /// the order received, each with its log's own seq, named `host`, with what a report counts:
    /// its signal, sender, account, address, peer, verdicts and (for a failure) credentials.
    package func records(
        since: Date?, until: Date?, host: String, each: (WireRecord) throws -> Void
    ) throws {
        try queue.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT key, received, signal, sender, user, remote_addr, peer_uid, peer_gid, peer_pid, verdicts,
                        credentials
                    FROM records WHERE received >= ? AND received < ? ORDER BY received, key
                    """,
                arguments: [since.map(Microseconds.from) ?? .min, until.map(Microseconds.from) ?? .max])
            while let row = try rows.next() {
                guard let signal = AuthSignal(rawValue: row[2]) else { continue }
                let address: String? = row[5]
                var peer: PeerCredentials?
                if let uid: Int64 = row[6], let gid: Int64 = row[7], let pid: Int64 = row[8],
                    let uid = UInt32(exactly: uid), let gid = UInt32(exactly: gid), let pid = Int32(exactly: pid)
                {
                    peer = PeerCredentials(uid: uid, gid: gid, pid: pid)
                }
                let verdicts = (row[9] as String?).flatMap { try? Verdict.array(JSONParser.parse(Array($0.utf8))) }
                var credentials: JSONObject?
                if let text: String = row[10], case .object(let object)? = try? JSONParser.parse(Array(text.utf8)) {
                    credentials = object
                }
                try each(
                    WireRecord(
                        seq: LogGenerations.seq(row[0]), received: Microseconds.date(row[1]), time: nil, signal: signal,
                        sender: row[3], user: row[4], request: address.map { ["remote_addr": .string($0)] },
                        credentials: credentials, peer: peer, hash: Data(), host: host, verdicts: verdicts ?? []))
            }
        }
    }

    /// The sessions `filter` selects, its limit aside (all that could be within it are
    /// returned), in its order, on a host in boot `context`, each named `host`.
    package func sessions(matching filter: SessionFilter, context: BootContext, host: String) throws -> [WireSession] {
        let rows = try queue.read { db in try Self.candidates(db, filter) }
        return rows.filter { $0.matches(filter, context) }.inOrder(filter.order).map {
            LogGenerations.answer($0.wire(context), host: host)
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
            LogGenerations.answer($0, host: host)
        }
    }
}
