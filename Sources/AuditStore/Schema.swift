import Foundation
import GRDB

/// The database schema and its migrations. Migrations are plain SQL that never refers to app
/// types, and none of them ever erases data.
enum Schema {
    static var migrator: DatabaseMigrator {
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
                    -- Keys that only grow (seq, received) append to the right edge of their
                    -- B-trees: cheap. user and remote_addr are the random-key indexes.
                    CREATE INDEX records_received ON records(received);
                    CREATE INDEX records_signal ON records(signal, seq);
                    CREATE INDEX records_sender ON records(sender, seq);
                    CREATE INDEX records_user ON records(user, seq) WHERE user IS NOT NULL;
                    CREATE INDEX records_remote_addr ON records(remote_addr, seq)
                        WHERE remote_addr IS NOT NULL;
                    CREATE UNIQUE INDEX records_idem ON records(idem) WHERE idem IS NOT NULL;
                    CREATE TABLE chain_anchor (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        seq INTEGER NOT NULL,
                        hash BLOB NOT NULL
                    );
                    """)
        }
        return migrator
    }

    /// The last pruned record's seq and hash, if any record was ever pruned.
    static func prunedAnchor(_ db: Database) throws -> ChainHead? {
        guard let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM chain_anchor WHERE id = 1") else {
            return nil
        }
        return ChainHead(seq: row[0], hash: row[1])
    }
}
