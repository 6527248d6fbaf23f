import AuthSignalProtocol
import Foundation
import GRDB

/// The database schema and its migrations. Migrations are plain SQL that never refers to app
/// types, and none of them ever erases data.
enum Schema {
    /// The migrations; `progress` hears how a long one is getting on. The sessions and accounts
    /// are built from the events of `trusted` senders only.
    static func migrator(
        trusted: TrustedSenders = .rootOnly, progress: (@Sendable (String) -> Void)? = nil
    ) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-records") { db in
            try db.execute(
                sql: """
                    CREATE TABLE records (
                        seq INTEGER PRIMARY KEY,
                        received INTEGER NOT NULL,
                        time INTEGER,
                        signal TEXT NOT NULL,
                        sender TEXT NOT NULL,
                        user TEXT,
                        remote_addr TEXT,
                        request TEXT,
                        credentials TEXT,
                        peer_uid INTEGER NOT NULL,
                        peer_gid INTEGER NOT NULL,
                        peer_pid INTEGER NOT NULL,
                        idem TEXT,
                        prev_hash BLOB NOT NULL,
                        hash BLOB NOT NULL
                    );
                    -- Keys that only grow append at the right edge of their B-trees (signal and
                    -- sender have a handful of values, so a handful of right edges): a group
                    -- commit dirties a few pages, however many records it holds.
                    CREATE INDEX records_received ON records(received);
                    CREATE INDEX records_signal ON records(signal, seq);
                    CREATE INDEX records_sender ON records(sender, seq);
                    CREATE UNIQUE INDEX records_idem ON records(idem) WHERE idem IS NOT NULL;
                    -- user and remote_addr are random keys: indexing them at every commit would
                    -- dirty a page per record. The writer indexes them in bulk, in key order
                    -- (docs/storage.md); records after indexed_through are read by seq range.
                    CREATE TABLE records_by_user (
                        user TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        PRIMARY KEY (user, seq)
                    ) WITHOUT ROWID;
                    CREATE TABLE records_by_address (
                        remote_addr TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        PRIMARY KEY (remote_addr, seq)
                    ) WITHOUT ROWID;
                    CREATE TABLE index_state (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        indexed_through INTEGER NOT NULL
                    );
                    INSERT INTO index_state (id, indexed_through) VALUES (1, 0);
                    CREATE TABLE chain_anchor (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        seq INTEGER NOT NULL,
                        hash BLOB NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2-log-identity") { db in
            // A random name for this audit log, written into its journal anchors so that verify
            // checks a log only against its own anchors (a host may run several logs over time).
            try db.execute(
                sql: """
                    CREATE TABLE log_identity (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        log_id TEXT NOT NULL
                    );
                    INSERT INTO log_identity (id, log_id) VALUES (1, lower(hex(randomblob(16))));
                    """)
        }
        // v3 built the sessions and accounts from every sender's events; v4 builds them anew
        // from trusted senders' only, so v3 builds nothing any more.
        migrator.registerMigration("v3-sessions-accounts") { _ in }
        migrator.registerMigration("v4-trusted-activity") { db in
            // Built from the records already merged into the user index; later ones follow with
            // each merge. Tables an older version built are dropped: they counted untrusted
            // senders' events (a forged last login of root, say), and lack the login's sender.
            for table in ActivityBooks.tables { try db.execute(sql: "DROP TABLE IF EXISTS \(table)") }
            try db.execute(sql: ActivityBooks.schema)
            let through = try indexedThrough(db)
            try ActivityBooks.merge(db, after: 0, through: through, trusted: trusted) { done in
                progress?("building sessions and accounts: record \(done) of \(through)")
            }
        }
        migrator.registerMigration("v5-verdicts") { db in
            // Verdicts are judged as records commit from then on; older records have none
            // stored (`authsignal verdicts` replays them).
            try db.execute(sql: VerdictTable.schema)
        }
        migrator.registerMigration("v6-verdicts-pending") { db in
            try db.execute(sql: PendingVerdicts.schema)
        }
        migrator.registerMigration("v7-short-sessions") { db in
            // Sessions that ended within an hour of their start leave the interval index: the
            // start index finds them (``SessionRow/isShort``).
            try db.execute(
                sql: """
                    DELETE FROM sessions_span WHERE login_seq IN (
                        SELECT login_seq FROM sessions WHERE \(SessionRow.isShortSQL))
                    """)
        }
        return migrator
    }

    /// The log's random identity (32 hex digits).
    static func logID(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "SELECT log_id FROM log_identity WHERE id = 1") ?? ""
    }

    /// Every record up to this seq is in the user and address indexes.
    static func indexedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT indexed_through FROM index_state WHERE id = 1") ?? 0
    }

    /// Adds the records after `indexed_through`, up to `through`, to the user and address
    /// indexes, in key order so that each index page is written once per merge, and to the
    /// sessions and accounts.
    static func mergeIndexes(_ db: Database, through: Int64, trusted: TrustedSenders) throws {
        let from = try indexedThrough(db)
        guard through > from else { return }
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO records_by_user (user, seq)
                    SELECT user, seq FROM records WHERE seq > ? AND seq <= ? AND user IS NOT NULL
                    ORDER BY user, seq;
                INSERT OR IGNORE INTO records_by_address (remote_addr, seq)
                    SELECT remote_addr, seq FROM records
                    WHERE seq > ? AND seq <= ? AND remote_addr IS NOT NULL
                    ORDER BY remote_addr, seq;
                """,
            arguments: [from, through, from, through])
        try ActivityBooks.merge(db, after: from, through: through, trusted: trusted)
        try db.execute(sql: "UPDATE index_state SET indexed_through = ? WHERE id = 1", arguments: [through])
    }

    /// The last pruned record's seq and hash, if any record was ever pruned.
    static func prunedAnchor(_ db: Database) throws -> ChainHead? {
        guard let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM chain_anchor WHERE id = 1") else {
            return nil
        }
        return ChainHead(seq: row[0], hash: row[1])
    }
}
