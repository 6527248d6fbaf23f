import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

/// Where `last` and `lastlog` read: the daemon (default), or an audit log file read-only.
struct ActivitySource: ParsableArguments {
    @OptionGroup var connection: Connection
    @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
    var database: String?

    /// The sessions `filter` selects; returns how many.
    func sessions(_ filter: SessionFilter, each: (WireSession) throws -> Void) async throws -> Int {
        guard let database else {
            do {
                return try connection.open().request(.sessions(filter), as: CountAnswer.self, each: each).count
            } catch {
                throw fail(error)
            }
        }
        do {
            return try await AuditLogFile.sessions(database: database, matching: filter, each: each)
        } catch {
            throw failReading(error)
        }
    }

    /// The accounts `filter` selects. For `--user NAME` with a name that is no account here, also
    /// the account its keyed hash names, when the daemon gives this caller the hash.
    func accounts(_ filter: AccountFilter) async throws -> [WireAccount] {
        var found = try await read(filter)
        if let hashed = connection.keyedHash(ofUnknownName: filter.user) {
            var byHash = filter
            byHash.user = hashed
            found += try await read(byHash)
        }
        return found
    }

    /// When the audit log's first record was stored: what "never logged in" is measured from.
    func logBegins() async throws -> Date? {
        var first: Date?
        let filter = RecordFilter(limit: 1)
        guard let database else {
            do {
                _ = try connection.open().request(.query(filter), as: CountAnswer.self) { (record: WireRecord) in
                    first = record.received
                }
                return first
            } catch {
                throw fail(error)
            }
        }
        do {
            _ = try await AuditLogFile.records(database: database, matching: filter) { first = $0.received }
            return first
        } catch {
            throw failReading(error)
        }
    }

    private func read(_ filter: AccountFilter) async throws -> [WireAccount] {
        var accounts: [WireAccount] = []
        guard let database else {
            do {
                _ = try connection.open().request(.accounts(filter), as: CountAnswer.self) { accounts.append($0) }
                return accounts
            } catch {
                throw fail(error)
            }
        }
        do {
            return try await AuditLogFile.accounts(database: database, matching: filter)
        } catch {
            throw failReading(error)
        }
    }
}
