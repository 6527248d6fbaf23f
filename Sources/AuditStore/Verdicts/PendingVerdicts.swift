import GRDB

/// The `verdicts_pending` row: the seq after which committed records may still lack their
/// verdicts, because the writer's judge had not learned the history when they committed.
///
/// Written in the transaction of the first record stored while the judge learns and deleted in
/// the one that judges them, so a reader's snapshot that holds such a record also holds the row:
/// the alert service reads only up to it (``AuditFeed``), and a daemon restarted before the
/// catch-up learns only up to it and judges the rest.
enum PendingVerdicts {
    static let schema = """
        CREATE TABLE verdicts_pending (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            after INTEGER NOT NULL
        );
        """

    /// The seq after which records may lack verdicts; `nil` when every record has its own.
    static func after(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT after FROM verdicts_pending WHERE id = 1")
    }

    /// Notes that the records after `seq` may lack verdicts (an earlier note stands).
    static func mark(after seq: Int64, _ db: Database) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO verdicts_pending (id, after) VALUES (1, ?)", arguments: [seq])
    }

    /// Notes that every record has its verdicts (or that none are judged any more).
    static func clear(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM verdicts_pending")
    }
}
