import AuthSignalProtocol
import GRDB

/// What a reader that acts on each committed record once (the alert service) reads of the audit
/// log: records in seq order, only once the writer has stored their verdicts.
extension ReadOnlyAuditLog {
    /// The greatest seq up to which every record is committed with its verdicts: the head, or
    /// less while the daemon's judge is still learning the history (``PendingVerdicts``).
    package func settledHead() async throws -> Int64 {
        try await pool.read { db in
            let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") ?? 0
            guard try db.tableExists("verdicts_pending") else { return head }
            return min(head, try PendingVerdicts.after(db) ?? head)
        }
    }

    /// Up to `limit` records after seq `after` and at most `through`, in seq order, with their
    /// verdicts.
    package func records(after: Int64, through: Int64, limit: Int) async throws -> [AuditRecord] {
        let query = RecordQuery(filter: RecordFilter(afterSeq: after))
        return try await pool.read { db in
            try query.page(db, size: max(limit, 1)).filter { $0.seq <= through }
        }
    }

    /// The latest login of `user` by a trusted sender stored before seq `before`, if any among the
    /// account's last `window` logins (so a flood of untrusted forgeries costs a bounded read).
    package func previousLogin(of user: String, before: Int64, window: Int = 32) async throws -> AuditRecord? {
        var start = RecordQuery(filter: RecordFilter(user: user, signal: .userLoggedIn, order: .descending))
        start.cursor = before
        let query = start
        let trusted = self.trusted
        return try await pool.read { db in
            try query.page(db, size: window).first { trusted.trusts($0.peer.uid) }
        }
    }
}
