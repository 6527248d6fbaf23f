import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalProtocol
import Foundation

/// Where `last`, `who` and `lastlog` read: the daemon (default), an audit log file read-only, or
/// the audit entries in journals (this host's, or files collected from a fleet), each host's
/// records paired by its log's rules.
struct ActivitySource: ParsableArguments {
    @OptionGroup var connection: Connection
    @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
    var database: String?
    @Flag(help: "Read the audit entries in this host's journal (adds a HOST column).") var journal = false
    @OptionGroup var journalOptions: JournalOptions
    @OptionGroup var indexOptions: FleetIndexOptions

    /// Whether sessions and accounts come from journals, and so carry a host.
    var readsJournal: Bool { journal || journalOptions.directory != nil }

    func validate() throws {
        if [database != nil, journal, journalOptions.directory != nil].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --database, --journal and --journal-directory")
        }
        try indexOptions.validate(journalDirectory: journalOptions.directory)
    }

    /// The collector's index to read through, if any (``FleetIndexOptions/index(for:)``).
    private func index() throws -> FleetIndex? { try indexOptions.index(for: journalOptions.directory) }

    /// `layout`, with the host column when items come from journals.
    func layout<Item>(_ layout: ActivityPrinter<Item>.Layout) -> ActivityPrinter<Item>.Layout {
        readsJournal ? layout.withHost : layout
    }

    /// The sessions `filter` selects; returns how many.
    func sessions(_ filter: SessionFilter, each: (WireSession) throws -> Void) async throws -> Int {
        if readsJournal {
            let index = try index()
            let sessions = try fromJournal { try $0.sessions(matching: filter, index: index) }
            for session in sessions { try each(session) }
            return sessions.count
        }
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
        // Each host keys its own hashes: this host's daemon cannot name another's.
        if readsJournal {
            let index = try index()
            return try fromJournal { try $0.accounts(matching: filter, index: index) }
        }
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
        if readsJournal {
            _ = try fromJournal { try $0.records(matching: filter) { first = $0.received } }
            return first
        }
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

    /// What `body` reads from the journal this source names.
    private func fromJournal<Answer>(_ body: (JournalHistory) throws -> Answer) throws -> Answer {
        let journal = try journalOptions.openForReading()
        do {
            return try body(journal)
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
