import AuditStore
public import AuthSignalCore

/// An audit log file read directly, read-only, without the daemon (`--database`): a copy taken
/// for an investigation, or the live file on a host whose daemon is down.
public enum AuditLogFile {
    /// The records of the database file at `path` matching `filter`, read-only, in the
    /// protocol's record form; returns how many.
    public static func records(
        database path: String, matching filter: RecordFilter, each: (JSONObject) throws -> Void
    ) async throws -> Int {
        let log = try ReadOnlyAuditLog(path: path)
        defer { try? log.close() }
        var count = 0
        for try await record in log.records(matching: filter) {
            try each(RecordJSON.object(record))
            count += 1
        }
        return count
    }

    /// What the daemon's `stats` answer says of its log, for the file at `path`: records per
    /// signal, first and last seq, size, chain head and log id.
    public static func stats(database path: String) async throws -> JSONObject {
        let log = try ReadOnlyAuditLog(path: path)
        defer { try? log.close() }
        let stats = try await log.stats()
        let head = try await log.chainHead()
        var records: JSONObject = ["total": .int(Int64(stats.total))]
        for signal in AuthSignal.allCases { records[signal.rawValue] = .int(Int64(stats.perSignal[signal] ?? 0)) }
        return [
            "records": .object(records),
            "first_seq": stats.firstSeq.map { .int($0) } ?? .null,
            "last_seq": stats.lastSeq.map { .int($0) } ?? .null,
            "database_bytes": .int(stats.databaseBytes),
            "chain_head": .object(["seq": .int(head.seq), "hash": .string(head.hashHex)]),
            "log_id": log.logID.map { .string($0) } ?? .null,
        ]
    }
}
