import AuthSignalCore
import AuthSignalProtocol
package import Foundation
import GRDB
import Signals

extension AuditStore {
    /// The most records one pruning transaction deletes, so that pruning never holds the writer
    /// for long.
    package static let pruneBatchSize: Int64 = 1000

    /// Deletes records beyond ``StoreOptions/maximumRecords`` and older than
    /// ``StoreOptions/maximumAge``, oldest first, at most ``pruneBatchSize`` per transaction.
    ///
    /// Sends `pre_delete` before and `post_delete` after each record's deletion. The last deleted
    /// record's seq and hash are kept as the chain anchor, so the remaining chain still verifies.
    /// - Returns: how many records were deleted, in how many transactions.
    @discardableResult
    package func prune(now: Date = Date()) async throws -> PruneResult {
        let keep = options.maximumRecords
        let cutoff = options.maximumAge.map { Microseconds.from(now) - Int64($0 / .microseconds(1)) }
        guard keep != nil || cutoff != nil else { return PruneResult() }
        // The newest seq to delete, decided once: records appended meanwhile are not counted.
        let target = try await pool.read { db -> Int64? in
            var target: Int64?
            if let keep {
                target = try Int64.fetchOne(
                    db, sql: "SELECT seq FROM records ORDER BY seq DESC LIMIT 1 OFFSET ?", arguments: [max(keep, 0)])
            }
            if let cutoff, let last = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") {
                let firstKept = try Int64.fetchOne(
                    db, sql: "SELECT seq FROM records WHERE received >= ? ORDER BY received, seq LIMIT 1",
                    arguments: [cutoff])
                target = max(target ?? 0, (firstKept ?? last + 1) - 1)
            }
            return target
        }
        guard let target else { return PruneResult() }
        var result = PruneResult()
        while true {
            let path = self.path
            let batch = try await pool.write { db in try Self.pruneBatch(db, through: target, path: path) }
            guard batch.count > 0 else { return result }
            result.deleted += batch.count
            result.transactions += 1
            for record in batch.records {
                await postDelete.sendRobust(
                    sender: Self.recordSender, ModelDeletion(instance: record, using: path, origin: "retention"))
            }
        }
    }

    /// Deletes, in the current transaction, the oldest records up to `target`, at most
    /// ``pruneBatchSize`` of them. Records are built for the deletion signals only when someone
    /// listens.
    private static func pruneBatch(
        _ db: Database, through target: Int64, path: String
    ) throws -> (count: Int, records: [AuditRecord]) {
        guard let first = try Int64.fetchOne(db, sql: "SELECT seq FROM records ORDER BY seq LIMIT 1"),
            first <= target
        else { return (0, []) }
        let end = min(target, first + pruneBatchSize - 1)
        var records: [AuditRecord] = []
        if preDelete.hasListeners(sender: recordSender) || postDelete.hasListeners(sender: recordSender) {
            records = try Row.fetchAll(
                db, sql: "SELECT \(RecordLayout.selectList()) FROM records WHERE seq BETWEEN ? AND ? ORDER BY seq",
                arguments: [first, end]
            ).map(RecordRow.record(from:))
            for record in records {
                preDelete.sendRobust(
                    sender: recordSender, ModelDeletion(instance: record, using: path, origin: "retention"))
            }
        }
        guard
            let anchor = try Row.fetchOne(
                db, sql: "SELECT seq, hash FROM records WHERE seq <= ? ORDER BY seq DESC LIMIT 1", arguments: [end])
        else { return (0, []) }
        try db.execute(
            sql: "INSERT OR REPLACE INTO chain_anchor (id, seq, hash) VALUES (1, ?, ?)",
            arguments: [anchor[0] as Int64, anchor[1] as Data])
        // Index entries go too: looked up by key, record by record, never by scanning an index.
        for (table, column) in [("records_by_user", "user"), ("records_by_address", "remote_addr")] {
            try db.execute(
                sql: """
                    DELETE FROM \(table) WHERE (\(column), seq) IN
                        (SELECT \(column), seq FROM records WHERE seq BETWEEN ? AND ? AND \(column) IS NOT NULL)
                    """,
                arguments: [first, end])
        }
        try ActivityBooks.prune(db, from: first, through: end)
        try VerdictTable.prune(db, from: first, through: end)
        try db.execute(sql: "DELETE FROM records WHERE seq BETWEEN ? AND ?", arguments: [first, end])
        return (db.changesCount, records)  // the last statement: the records deleted
    }
}

/// What a retention run did.
package struct PruneResult: Sendable, Hashable {
    /// Records deleted.
    package var deleted = 0
    /// Transactions used (each deletes at most ``AuditStore/pruneBatchSize`` records).
    package var transactions = 0

    /// Nothing deleted.
    package init() {}
}
