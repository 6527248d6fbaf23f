import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalProtocol
import Foundation

/// Where `query`, `follow` and `report` read history: the daemon (default), an audit log file
/// read-only, or the audit entries in journals (this host's, or files collected from a fleet).
struct HistorySource: ParsableArguments {
    @OptionGroup var connection: Connection
    @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
    var database: String?
    @Flag(help: "Read the audit entries in this host's journal (adds a HOST column).") var journal = false
    @OptionGroup var journalOptions: JournalOptions

    /// Whether records come from journals, and so carry a host.
    var readsJournal: Bool { journal || journalOptions.directory != nil }

    func validate() throws {
        if [database != nil, journal, journalOptions.directory != nil].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --database, --journal and --journal-directory")
        }
    }

    /// The senders whose records count (`report`): the daemon's own list when it is the source,
    /// else root and the `TrustedUsers` of this host's daemon configuration.
    func trustedSenders() throws -> TrustedSenders {
        guard database == nil, !readsJournal else { return AuditLogFile.trustedSenders }
        do {
            return try connection.open().request(.stats, as: StatsAnswer.self).service?.trusted ?? .rootOnly
        } catch {
            throw fail(error)
        }
    }

    /// Opens the journal this source names.
    func openJournal() throws -> JournalHistory { try journalOptions.openForReading() }

    /// Reads the records `filter` selects; returns how many there were.
    ///
    /// `--user NAME` for a name that is no account here also finds the records where NAME was
    /// stored keyed-hashed (a failed login for an unknown name), when the daemon gives this caller
    /// NAME's hash (`[Access] HashUsers`/`HashGroups`): both sets, merged in order.
    /// `inAnyOrder` lets records of a collector's journal files come one host after another, much
    /// faster with many hosts (``JournalHistory/recordsInAnyOrder(matching:each:)``), for callers
    /// that only count.
    func records(_ filter: RecordFilter, inAnyOrder: Bool = false, each: (WireRecord) throws -> Void) async throws
        -> Int
    {
        guard let name = filter.user, let hashed = connection.keyedHash(ofUnknownName: name) else {
            return try await read(filter, inAnyOrder: inAnyOrder, each: each)
        }
        var found: [WireRecord] = []
        for user in [name, hashed] {
            var single = filter
            single.user = user
            _ = try await read(single) { found.append($0) }
        }
        // Seqs order one log; records from journals (many hosts' logs) are ordered by time.
        let earlier: (WireRecord, WireRecord) -> Bool =
            readsJournal ? { ($0.received, $0.seq) < ($1.received, $1.seq) } : { $0.seq < $1.seq }
        found.sort { filter.order == .ascending ? earlier($0, $1) : earlier($1, $0) }
        let kept = found.prefix(filter.limit ?? found.count)
        for record in kept { try each(record) }
        return kept.count
    }

    /// Reads the records `filter` selects from the daemon as JSON objects, as it wrote them
    /// (see ``DaemonConnection/query(_:recordJSON:)``), and returns how many; `nil`, having read
    /// nothing, when they come from elsewhere or `--user` may need a second look-up.
    func recordJSON(_ filter: RecordFilter, each: (ArraySlice<UInt8>) throws -> Void) throws -> Int? {
        guard database == nil, !readsJournal, filter.user == nil else { return nil }
        do {
            return try connection.open().query(filter, recordJSON: each)
        } catch {
            throw fail(error)
        }
    }

    private func read(_ filter: RecordFilter, inAnyOrder: Bool = false, each: (WireRecord) throws -> Void) async throws
        -> Int
    {
        if database == nil && !readsJournal {
            do {
                return try connection.open().request(.query(filter), as: CountAnswer.self, record: each).count
            } catch {
                throw fail(error)
            }
        }
        do {
            if let database { return try await AuditLogFile.records(database: database, matching: filter, each: each) }
            let journal = try openJournal()
            return try inAnyOrder
                ? journal.recordsInAnyOrder(matching: filter, each: each)
                : journal.records(matching: filter, each: each)
        } catch {
            throw failReading(error)
        }
    }
}
