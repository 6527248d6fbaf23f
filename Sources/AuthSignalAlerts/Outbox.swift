package import AuditJournal
import AuditStore
import Foundation
import GRDB
import Glibc

/// The alert service's own database (`[Alerts] Database`): the alerts derived from committed
/// records, their delivery state, the messages sent, and how far the service has read the audit
/// log. A separate file, so that delivering never takes the audit log's write lock: ingest is
/// never slowed by alerts (docs/alerts.md).
///
/// An alert is inserted in the same transaction that moves the read position past its record, and
/// is unique by (rule, sink, key): after a crash, reading resumes where the last transaction left
/// it, and nothing is fired twice. Deliveries are at least once: an alert is marked sent after its
/// sink answered, so a delivery cut short is repeated after a restart.
package final class Outbox: Sendable {
    /// How far the audit log has been read: its identity and the last seq looked at.
    package struct Position: Sendable, Hashable {
        package var logID: String
        package var seq: Int64
    }

    /// A new alert for the outbox.
    package struct NewAlert: Sendable {
        package var rule: String
        package var sink: String
        /// What makes it unique for the rule and sink: `record:LOGID:SEQ`, `health:…`, `test:…`.
        package var key: String
        package var event: AlertEvent
        package var seq: Int64?
    }

    /// A waiting alert: its row and facts.
    package struct Waiting: Sendable {
        package var id: Int64
        package var attempts: Int
        package var event: AlertEvent
    }

    /// A rule and sink with alerts waiting, and when it last sent or failed.
    package struct Group: Sendable, Hashable {
        package var rule: String
        package var sink: String
        /// When its oldest waiting alert was created (µs).
        package var oldest: Int64
        package var waiting: Int
        /// When its last message went out (µs), if ever.
        package var lastSent: Int64?
        /// Failed deliveries since the last one that succeeded.
        package var failures: Int
        /// Not before this (µs): the back-off after a failure.
        package var retryAt: Int64
    }

    /// One alert as `authsignal alerts` lists it.
    package struct Listed: Sendable, Hashable {
        package var id: Int64
        package var rule: String
        package var sink: String
        package var created: Int64
        package var state: String
        package var attempts: Int
        package var lastError: String?
        package var finished: Int64?
        package var event: AlertEvent?
    }

    /// Waiting alerts at most: beyond, the service stops reading the audit log until some are
    /// delivered (alerts are delayed, never lost: they are read later).
    package static let capacity = 100_000

    private let queue: DatabaseQueue

    /// Opens (creating when absent) the outbox at `path`, mode 0600; `readOnly` opens an
    /// existing one for reading only (`authsignal alerts`).
    package init(path: String, readOnly: Bool = false) throws {
        if readOnly {
            guard FileManager.default.fileExists(atPath: path) else {
                throw StoreError.open(
                    "\(path): no such file (the alert service has not run with this [Alerts] Database)")
            }
        } else {
            try AuditStore.prepareFile(at: path)
        }
        try AuditStore.checkCompanionFiles(of: path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.readonly = readOnly
        configuration.label = "authsignal.alerts"
        queue = try DatabaseQueue(path: path, configuration: configuration)
        if !readOnly {
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try Self.migrator.migrate(queue)
        }
        Self.giveCompanionFiles(of: path)
    }

    /// Gives the `-wal` and `-shm` files that root just created (running `authsignal alerts`) to
    /// the owner of the database, so that the service, running as its own user, can still use
    /// them.
    private static func giveCompanionFiles(of path: String) {
        var database = stat()
        guard stat(path, &database) == 0 else { return }
        for suffix in ["-wal", "-shm"] {
            var info = stat()
            if lstat(path + suffix, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                info.st_uid != database.st_uid || info.st_gid != database.st_gid
            {
                _ = lchown(path + suffix, database.st_uid, database.st_gid)
            }
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE position (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        log_id TEXT NOT NULL,
                        seq INTEGER NOT NULL
                    );
                    CREATE TABLE alerts (
                        id INTEGER PRIMARY KEY,
                        rule TEXT NOT NULL,
                        sink TEXT NOT NULL,
                        key TEXT NOT NULL,
                        seq INTEGER,
                        created INTEGER NOT NULL,
                        event TEXT NOT NULL,
                        state TEXT NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'sent', 'dead', 'dropped')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT,
                        finished INTEGER,
                        message INTEGER,
                        UNIQUE (rule, sink, key)
                    );
                    CREATE INDEX alerts_pending ON alerts(rule, sink, id) WHERE state = 'pending';
                    CREATE INDEX alerts_created ON alerts(created);
                    CREATE TABLE groups (
                        rule TEXT NOT NULL,
                        sink TEXT NOT NULL,
                        last_sent INTEGER,
                        failures INTEGER NOT NULL DEFAULT 0,
                        retry_at INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (rule, sink)
                    ) WITHOUT ROWID;
                    CREATE TABLE messages (
                        id INTEGER PRIMARY KEY,
                        rule TEXT NOT NULL,
                        sink TEXT NOT NULL,
                        sent INTEGER NOT NULL,
                        alerts INTEGER NOT NULL,
                        answer TEXT
                    );
                    """)
        }
        migrator.registerMigration("v2-fleet") { db in
            try db.execute(
                sql: """
                    CREATE TABLE fleet_start (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        directory TEXT NOT NULL,
                        since INTEGER NOT NULL
                    );
                    CREATE TABLE fleet_positions (
                        host TEXT PRIMARY KEY,
                        cursor TEXT NOT NULL,
                        realtime INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        return migrator
    }

    /// How far the audit log has been read; `nil` before the first read.
    package func position() throws -> Position? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT log_id, seq FROM position WHERE id = 1").map {
                Position(logID: $0[0], seq: $0[1])
            }
        }
    }

    /// Where reading a fleet's collected `directory` stands: since when its records are new (µs),
    /// and each host's position. The first call for a directory (or after `[Alerts]
    /// FleetDirectory` named another) starts it at `now`, with no positions.
    package func fleetStart(directory: String, now: Int64) throws -> (since: Int64, positions: [String: FleetPosition])
    {
        try queue.write { db in
            let start = try Row.fetchOne(db, sql: "SELECT directory, since FROM fleet_start WHERE id = 1")
            if let start, start[0] as String == directory {
                let rows = try Row.fetchAll(db, sql: "SELECT host, cursor, realtime FROM fleet_positions")
                return (
                    start[1],
                    Dictionary(
                        uniqueKeysWithValues: rows.map { ($0[0], FleetPosition(cursor: $0[1], realtime: $0[2])) })
                )
            }
            try db.execute(sql: "DELETE FROM fleet_positions")
            try db.execute(
                sql: "INSERT OR REPLACE INTO fleet_start (id, directory, since) VALUES (1, ?, ?)",
                arguments: [directory, now])
            return (now, [:])
        }
    }

    /// Stores `alerts` (skipping any already stored for the same rule, sink and key) and moves
    /// the read position to `position` and the fleet's hosts to `fleet`, in one transaction.
    /// Returns how many were new.
    @discardableResult
    package func add(
        _ alerts: [NewAlert], movingTo position: Position?, fleet: [String: FleetPosition] = [:], at now: Int64
    ) throws -> Int {
        try queue.write { db in
            for (host, at) in fleet {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO fleet_positions (host, cursor, realtime) VALUES (?, ?, ?)",
                    arguments: [host, at.cursor, at.realtime])
            }
            let insert = try db.makeStatement(
                sql: """
                    INSERT OR IGNORE INTO alerts (rule, sink, key, seq, created, event)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
            var added = 0
            for alert in alerts {
                try insert.execute(
                    arguments: [alert.rule, alert.sink, alert.key, alert.seq, now, alert.event.encoded()])
                added += db.changesCount
            }
            if let position {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO position (id, log_id, seq) VALUES (1, ?, ?)",
                    arguments: [position.logID, position.seq])
            }
            return added
        }
    }

    /// How many alerts wait.
    package func waitingCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alerts WHERE state = 'pending'") ?? 0 }
    }

    /// The rules and sinks with alerts waiting.
    package func groups() throws -> [Group] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.rule, a.sink, min(a.created), count(*), g.last_sent,
                        coalesce(g.failures, 0), coalesce(g.retry_at, 0)
                    FROM alerts a LEFT JOIN groups g ON g.rule = a.rule AND g.sink = a.sink
                    WHERE a.state = 'pending'
                    GROUP BY a.rule, a.sink
                    """
            ).map {
                Group(
                    rule: $0[0], sink: $0[1], oldest: $0[2], waiting: $0[3], lastSent: $0[4], failures: $0[5],
                    retryAt: $0[6])
            }
        }
    }

    /// The oldest `limit` alerts waiting for `rule` and `sink`, oldest first.
    package func waiting(rule: String, sink: String, limit: Int) throws -> [Waiting] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, attempts, event FROM alerts
                    WHERE state = 'pending' AND rule = ? AND sink = ? ORDER BY id LIMIT ?
                    """, arguments: [rule, sink, limit]
            ).map { row in
                let json: String = row[2]
                let event =
                    (try? AlertEvent(json: json))
                    ?? AlertEvent(kind: .health, condition: nil, detail: "an alert the outbox cannot read", at: Date())
                return Waiting(id: row[0], attempts: row[1], event: event)
            }
        }
    }

    /// Marks `ids` (of `rule` and `sink`) sent at `now` by one message, the sink's `answer` kept.
    package func sent(_ ids: [Int64], rule: String, sink: String, at now: Int64, answer: String) throws {
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO messages (rule, sink, sent, alerts, answer) VALUES (?, ?, ?, ?, ?)",
                arguments: [rule, sink, now, ids.count, answer])
            let message = db.lastInsertedRowID
            try Self.update(
                db, ids, sql: "UPDATE alerts SET state = 'sent', finished = ?, message = ? WHERE id = ?",
                [now, message])
            try db.execute(
                sql: """
                    INSERT INTO groups (rule, sink, last_sent, failures, retry_at) VALUES (?, ?, ?, 0, 0)
                    ON CONFLICT (rule, sink) DO UPDATE SET last_sent = excluded.last_sent, failures = 0, retry_at = 0
                    """, arguments: [rule, sink, now])
        }
    }

    /// Counts a failed delivery of `ids` at `now`: each alert's attempts go up, those that reach
    /// `maxAttempts` are given up (`dead`), and the group waits until `retryAt`. Returns the ids
    /// given up.
    package func failed(
        _ ids: [Int64], rule: String, sink: String, at now: Int64, error: String, maxAttempts: Int, retryAt: Int64
    ) throws -> [Int64] {
        try queue.write { db in
            try Self.update(
                db, ids, sql: "UPDATE alerts SET attempts = attempts + 1, last_error = ? WHERE id = ?", [error])
            // Only the alerts just tried can have reached the limit.
            let dead = try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM alerts
                    WHERE state = 'pending' AND rule = ? AND sink = ? AND attempts >= ? ORDER BY id
                    """, arguments: [rule, sink, maxAttempts])
            try Self.update(db, dead, sql: "UPDATE alerts SET state = 'dead', finished = ? WHERE id = ?", [now])
            try db.execute(
                sql: """
                    INSERT INTO groups (rule, sink, failures, retry_at) VALUES (?, ?, 1, ?)
                    ON CONFLICT (rule, sink) DO UPDATE SET failures = failures + 1, retry_at = excluded.retry_at
                    """, arguments: [rule, sink, retryAt])
            return dead
        }
    }

    /// Gives up the waiting alerts of `rule` and `sink` without delivering them (the
    /// configuration no longer has the rule or the sink). Returns how many.
    package func drop(rule: String, sink: String, at now: Int64, reason: String) throws -> Int {
        try queue.write { db in
            try db.execute(
                sql: """
                    UPDATE alerts SET state = 'dropped', finished = ?, last_error = ?
                    WHERE state = 'pending' AND rule = ? AND sink = ?
                    """, arguments: [now, reason, rule, sink])
            return db.changesCount
        }
    }

    /// The latest `limit` alerts (of `rule`, in `state`, if given), newest first.
    package func recent(limit: Int, rule: String? = nil, state: String? = nil) throws -> [Listed] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, rule, sink, created, state, attempts, last_error, finished, event FROM alerts
                    WHERE (?1 IS NULL OR rule = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3
                    """, arguments: [rule, state, limit]
            ).map { row in
                let json: String = row[8]
                return Listed(
                    id: row[0], rule: row[1], sink: row[2], created: row[3], state: row[4], attempts: row[5],
                    lastError: row[6], finished: row[7], event: try? AlertEvent(json: json))
            }
        }
    }

    /// Forgets alerts sent or given up before `before` (µs), and messages sent before it.
    package func prune(before: Int64) throws {
        try queue.write { db in
            try db.execute(
                sql:
                    "DELETE FROM alerts WHERE state != 'pending' AND finished < ?; DELETE FROM messages WHERE sent < ?",
                arguments: [before, before])
        }
    }

    /// Runs `sql` (whose last argument is the id) for each of `ids`, after `arguments`.
    private static func update(
        _ db: Database, _ ids: [Int64], sql: String, _ arguments: [(any DatabaseValueConvertible)?]
    ) throws {
        let statement = try db.cachedStatement(sql: sql)
        for id in ids { try statement.execute(arguments: StatementArguments(arguments + [id])) }
    }
}
