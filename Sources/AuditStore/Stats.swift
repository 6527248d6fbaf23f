package import AuthSignalProtocol
package import Foundation
import GRDB

/// Totals of the audit log.
package struct StoreStats: Sendable, Hashable {
    /// Records per signal.
    package var perSignal: [AuthSignal: Int]
    /// All records.
    package var total: Int { perSignal.values.reduce(0, +) }
    /// The oldest record's seq and received time.
    package var firstSeq: Int64?
    /// When the oldest record was received.
    package var firstReceived: Date?
    /// The newest record's seq.
    package var lastSeq: Int64?
    /// When the newest record was received.
    package var lastReceived: Date?
    /// Size of the database file plus its write-ahead log, in bytes.
    package var databaseBytes: Int64
    /// Transactions committed by the writer since the store was opened.
    package var committedTransactions: Int
    /// How long those transactions took.
    package var commitLatency = LatencyHistogram()
    /// Records those transactions stored, per signal.
    package var storedSinceOpen: [AuthSignal: Int] = [:]
}

extension AuditStore {
    /// Totals per signal, first and last seq and time, and the database size.
    package func stats() async throws -> StoreStats {
        var stats = try await Self.stats(pool, path: path)
        let counters = writer.counters
        stats.committedTransactions = counters.committedTransactions
        stats.commitLatency = counters.commitLatency
        stats.storedSinceOpen = counters.stored
        return stats
    }

    /// ``stats()`` over any reader of the log at `path` (``ReadOnlyAuditLog`` too).
    static func stats(_ reader: any DatabaseReader, path: String) async throws -> StoreStats {
        try await reader.read { db in
            var perSignal: [AuthSignal: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT signal, count(*) FROM records GROUP BY signal") {
                if let signal = AuthSignal(rawValue: row[0]) { perSignal[signal] = row[1] }
            }
            let first = try Row.fetchOne(db, sql: "SELECT seq, received FROM records ORDER BY seq LIMIT 1")
            let last = try Row.fetchOne(db, sql: "SELECT seq, received FROM records ORDER BY seq DESC LIMIT 1")
            return StoreStats(
                perSignal: perSignal, firstSeq: first?[0], firstReceived: (first?[1] as Int64?).map(Microseconds.date),
                lastSeq: last?[0], lastReceived: (last?[1] as Int64?).map(Microseconds.date),
                databaseBytes: Self.fileSize(path) + Self.fileSize(path + "-wal"), committedTransactions: 0)
        }
    }

    private static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }
}

extension AuditStore {
    /// SQLite's `PRAGMA integrity_check`: `["ok"]` for a sound file.
    package func integrityCheck() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }
}
