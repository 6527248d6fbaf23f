import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

/// An audit log file read directly, read-only, without the daemon (`--database`): a copy taken
/// for an investigation, or the live file on a host whose daemon is down.
package enum AuditLogFile {
    /// The records of the database file at `path` matching `filter`, read-only, in the
    /// protocol's record form; returns how many.
    package static func records(
        database path: String, matching filter: RecordFilter, each: (WireRecord) throws -> Void
    ) async throws -> Int {
        let log = try ReadOnlyAuditLog(path: path)
        defer { try? log.close() }
        var count = 0
        for try await record in log.records(matching: filter) {
            try each(record.wire)
            count += 1
        }
        return count
    }

    /// What the daemon's `stats` answer says of its log, for the file at `path`: records per
    /// signal, first and last seq, size, chain head and log id.
    package static func stats(database path: String) async throws -> StatsAnswer {
        let log = try ReadOnlyAuditLog(path: path)
        defer { try? log.close() }
        let totals = StatsAnswer.Log(try await log.stats(), head: try await log.chainHead(), logID: log.logID)
        return StatsAnswer(log: totals, service: nil)
    }
}

extension AuditLogFile {
    /// Whose events make sessions and accounts for the records a file's tables do not hold yet:
    /// root and the `TrustedUsers` of this host's daemon configuration, when it can be read (the
    /// tables themselves were built by the daemon that wrote the file, by its own list).
    package static var trustedSenders: TrustedSenders {
        (try? DaemonConfig.load(path: DaemonConfig.defaultPath, required: false)).map { TrustedSenders($0) }
            ?? .rootOnly
    }

    /// The login sessions of the database file at `path` that `filter` selects, read-only, judged
    /// against this host's boot; returns how many.
    package static func sessions(
        database path: String, matching filter: SessionFilter, each: (WireSession) throws -> Void
    ) async throws -> Int {
        let log = try ReadOnlyAuditLog(path: path, trusted: trustedSenders)
        defer { try? log.close() }
        return try await log.sessions(matching: filter) { try each($0) }
    }

    /// The accounts of the database file at `path` that `filter` selects, read-only.
    package static func accounts(database path: String, matching filter: AccountFilter) async throws -> [WireAccount] {
        let log = try ReadOnlyAuditLog(path: path, trusted: trustedSenders)
        defer { try? log.close() }
        return try await log.accounts(matching: filter)
    }
}

extension AuditLogFile {
    /// The records of the database file at `path` that a replay with the `[Verdicts]` and
    /// `[Access] TrustedUsers` of `config` judges, received in `[since, until)`, each with its
    /// replayed verdicts; returns how many.
    package static func verdicts(
        database path: String, config: DaemonConfig, since: Date?, until: Date?, each: (WireRecord) throws -> Void
    ) async throws -> Int {
        let log = try ReadOnlyAuditLog(path: path, trusted: TrustedSenders(config))
        defer { try? log.close() }
        let judged = try await log.judgedRecords(settings: config.verdicts, since: since, until: until)
        for record in judged { try each(record.wire) }
        return judged.count
    }
}
