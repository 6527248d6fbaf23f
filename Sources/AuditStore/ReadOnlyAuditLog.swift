package import AuthSignalProtocol
import Foundation
import GRDB

/// An audit log opened read-only, for offline use of a database file without the daemon (such
/// as a copy taken for an investigation): query and verify. Nothing is migrated or written, and
/// no signal is sent.
///
/// A copy of a log in WAL mode needs its `-wal` file beside it (copy both), and a directory in
/// which SQLite may create the `-shm` index when it is absent.
package final class ReadOnlyAuditLog: Sendable {
    /// The database file.
    package let path: String
    /// The log's identity (`nil` for a log written before identities existed).
    package let logID: String?
    /// Whose events count in sessions and accounts not yet in the log's tables (those in them
    /// were judged by the daemon that wrote them).
    package let trusted: TrustedSenders
    let pool: DatabasePool

    /// Opens the audit log at `path` read-only.
    /// - Throws: ``StoreError/open(_:)`` when the file is missing, unreadable or not an audit log.
    package init(path: String, trusted: TrustedSenders = .rootOnly) throws(StoreError) {
        self.path = path
        self.trusted = trusted
        guard FileManager.default.fileExists(atPath: path) else {
            throw .open("\(path): no such file")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "authsignal.readonly"
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            logID = try pool.read { db -> String? in
                guard try db.tableExists("records") else {
                    throw StoreError.open("\(path) is not an authsignal audit log (it has no records table)")
                }
                return try db.tableExists("log_identity") ? try Schema.logID(db) : nil
            }
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw .open("\(path): \(StoreFailure.describe(error))")
        } catch {
            throw .open("\(path): \(error)")
        }
    }

    /// The records matching `filter`, page by page (see ``AuditStore/records(matching:pageSize:)``).
    package func records(matching filter: RecordFilter = RecordFilter(), pageSize: Int = 512) -> RecordSequence {
        RecordSequence(reader: pool, filter: filter, pageSize: max(pageSize, 1))
    }

    /// Walks the hash chain, checking `anchors` too (see ``AuditStore/verify(from:to:anchors:)``).
    package func verify(from: Int64? = nil, to: Int64? = nil, anchors: [ChainHead] = []) async throws -> VerifyReport {
        try await AuditStore.verify(
            pool, from: from, to: to, anchors: anchors, parallelThreshold: StoreOptions().parallelVerifyThreshold)
    }

    /// Totals per signal, first and last seq and time, and the file size (``StoreStats``, with no
    /// transactions committed).
    package func stats() async throws -> StoreStats { try await AuditStore.stats(pool, path: path) }

    /// The last record's seq and hash, or the pruned anchor, or the genesis head of an empty log.
    package func chainHead() async throws -> ChainHead {
        try await pool.read { db in
            let head = try AuditStore.loadHead(db)
            return head.seq == 0 ? ChainHead.genesis : head.chainHead
        }
    }

    /// Closes the file.
    package func close() throws { try pool.close() }
}
