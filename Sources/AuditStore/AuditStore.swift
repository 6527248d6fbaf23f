package import AuthSignalCore
package import AuthSignalProtocol
import Foundation
import GRDB
import Glibc
package import Signals
import Synchronization

/// The SQLite audit log: authsignal's system of record (docs/storage.md).
///
/// One writer appends with group commit (``append(_:)`` returns once the transaction holding the
/// event is durably committed); readers query, verify and report concurrently through WAL.
package final class AuditStore: Sendable {
    /// The database file.
    package let path: String
    /// The options it was opened with.
    package let options: StoreOptions
    /// The log's random identity, written into its journal anchors (docs/storage.md).
    package let logID: String
    let pool: DatabasePool
    let writer: GroupCommitWriter

    /// The sender of this store's model, management and database signals.
    package static let sender = Sender.type(AuditStore.self)
    /// The sender of the model signals about records.
    package static let recordSender = Sender.type(AuditRecord.self)

    /// Opens (creating when absent) the audit log at `path` and migrates its schema.
    ///
    /// Sends `connection_created` for every connection, and `pre_migrate`/`post_migrate` around
    /// the migrations. The file and its WAL and shared-memory files are created 0600; a path that
    /// is a symbolic link is refused.
    package init(path: String, options: StoreOptions = StoreOptions()) throws {
        self.path = path
        self.options = options
        try Self.prepareFile(at: path)
        try Self.checkCompanionFiles(of: path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = options.maximumReaders
        configuration.label = "authsignal.store"
        let cacheKiB = options.writerCacheKiB
        let pageSize = options.pageSize
        configuration.prepareDatabase { db in
            let isWriter = !db.configuration.readonly
            if isWriter {
                // Takes effect only while the file is still empty, that is on creation.
                try db.execute(sql: "PRAGMA page_size = \(pageSize)")
                try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
            }
            if connectionCreated.hasListeners(sender: AuditStore.sender) {
                try connectionCreated.send(
                    sender: AuditStore.sender,
                    ConnectionCreated(path: path, isWriter: isWriter, connection: SQLConnection(db)))
            }
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB sets `synchronous = NORMAL` when it switches the writer to WAL; the audit log
            // acknowledges only what survives power loss, so it needs FULL.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try Self.migrate(pool, path: path, trusted: options.trustedSenders, progress: options.migrationProgress)
            try Self.checkCompanionFiles(of: path)
            if options.verdicts == nil {
                // No judge will catch up with records an earlier run left unjudged: readers
                // waiting for their verdicts (the alert service) must not wait for ever.
                try pool.write { db in try PendingVerdicts.clear(db) }
            }
            let (head, indexedThrough, logID) = try pool.read { db in
                (try Self.loadHead(db), try Schema.indexedThrough(db), try Schema.logID(db))
            }
            self.logID = logID
            writer = GroupCommitWriter(
                pool: pool, path: path, head: head, indexedThrough: indexedThrough, options: options)
        } catch let error as DatabaseError {
            throw StoreError.open(StoreFailure.describe(error))
        }
    }

    /// Whose events make the sessions and accounts from now on (`[Access] TrustedUsers`, on
    /// reload): the records merged after this, and the reads of those not merged yet.
    package func trust(_ senders: TrustedSenders) {
        writer.merger.trusted = senders
        writer.verdicts?.trust(senders)
    }

    /// The head of the hash chain: the last record's seq and hash (for external anchoring).
    package func chainHead() -> ChainHead { writer.head.seq == 0 ? ChainHead.genesis : writer.head.chainHead }

    /// How long the writer has had events to commit without finishing a transaction (an index
    /// merge in their way included), or `nil` while it has none. A healthy writer finishes one within milliseconds;
    /// the daemon's watchdog withholds its ping when this grows past half the watchdog interval.
    package var writerStall: Duration? { writer.stall }

    /// How many transactions the writer has committed since opening (group commit puts many
    /// events in one).
    package var committedTransactions: Int { writer.counters.committedTransactions }

    /// Appends `event` and returns once the transaction holding it is durably committed.
    ///
    /// A repeated idempotency key returns the original seq with `duplicate: true` and stores
    /// nothing. Waits while the queue is full (back-pressure).
    /// - Throws: ``StoreError/unavailable(_:)`` when nothing could be stored.
    @discardableResult
    package func append(_ event: RedactedEvent) async throws(StoreError) -> Appended {
        try await writer.append(event)
    }

    /// Queues `event` at once, in call order, and returns a ticket that completes when the
    /// transaction holding it is durably committed.
    ///
    /// Unlike ``append(_:)`` this never waits for room in the queue: callers bound how many
    /// appends they have outstanding (the daemon bounds requests in flight per connection).
    package func submit(_ event: RedactedEvent) -> AppendTicket {
        writer.submit(event)
    }

    /// Adds every committed record to the user and address indexes now, instead of waiting for
    /// the writer to be idle or for ``StoreOptions/indexMergeThreshold`` records to accumulate.
    package func indexPendingRecords() async {
        await writer.merger.mergeAll()
    }

    /// Returns once the verdicts' judge has learned the stored history, so that the records stored
    /// from now on are judged as they commit (at once when no verdict is judged; docs/verdicts.md).
    package func verdictsLearned() async { await writer.verdicts?.ready() }

    /// Stops accepting appends, waits for queued ones, indexes what is not yet, and closes.
    package func close() async throws {
        await writer.shutDown()
        await writer.merger.close()
        try pool.close()
    }

    // MARK: Opening

    /// Creates the database file at `path` mode 0600 (SQLite gives its `-wal` and `-shm` files
    /// the same), or takes group and other permissions from an existing one; refuses a symbolic
    /// link or anything but a regular file. Also for the alert service's outbox.
    package static func prepareFile(at path: String) throws(StoreError) {
        var info = stat()
        if lstat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFLNK { throw .symlink(path) }
            guard info.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path) }
            if info.st_mode & 0o077 != 0 { chmod(path, 0o600) }
            return
        }
        guard errno == ENOENT else { throw .open("\(path): \(String(cString: strerror(errno)))") }
        // SQLite gives the -wal and -shm files the database file's permissions: create it 0600.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .open("\(path): \(String(cString: strerror(errno)))") }
        Glibc.close(fd)
    }

    /// Refuses a `-wal` or `-shm` that is a symbolic link or not a regular file, and takes
    /// group and other permissions from one left with looser modes (by a copy, an older version,
    /// or another tool): the WAL holds recent records before they reach the database file.
    package static func checkCompanionFiles(of path: String) throws(StoreError) {
        for suffix in ["-wal", "-shm"] {
            var info = stat()
            guard lstat(path + suffix, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK { throw .symlink(path + suffix) }
            guard info.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path + suffix) }
            if info.st_mode & 0o077 != 0 { chmod(path + suffix, 0o600) }
        }
    }

    private static func migrate(
        _ pool: DatabasePool, path: String, trusted: TrustedSenders, progress: (@Sendable (String) -> Void)?
    ) throws {
        let migrator = Schema.migrator(trusted: trusted, progress: progress)
        let pending = try pool.read { db in
            let applied = try migrator.appliedIdentifiers(db)
            return migrator.migrations.filter { !applied.contains($0) }
        }
        preMigrate.sendRobust(sender: sender, Migration(using: path, plan: pending))
        try migrator.migrate(pool)
        postMigrate.sendRobust(sender: sender, Migration(using: path, plan: pending))
    }

    static func loadHead(_ db: Database) throws -> WriterHead {
        if let row = try Row.fetchOne(
            db, sql: "SELECT seq, received, hash FROM records ORDER BY seq DESC LIMIT 1")
        {
            return WriterHead(seq: row[0], received: row[1], hash: row[2])
        }
        if let anchor = try Schema.prunedAnchor(db) {
            return WriterHead(seq: anchor.seq, received: 0, hash: anchor.hash)
        }
        return WriterHead(seq: 0, received: 0, hash: ChainHead.genesis.hash)
    }
}

/// The result of an append.
package struct Appended: Sendable, Hashable {
    /// The record's seq (the original one for a duplicate).
    package let seq: Int64
    /// Whether the idempotency key had been seen: nothing new was stored.
    package let duplicate: Bool
}

/// An append in progress: completes once, with the record's seq or why nothing was stored.
package final class AppendTicket: Sendable {
    private enum State {
        case waiting([@Sendable (Result<Appended, StoreError>) -> Void])
        case done(Result<Appended, StoreError>)
    }

    private let state = Mutex(State.waiting([]))

    init() {}

    /// Calls `callback` with the outcome (at once when known), on the writer's thread otherwise:
    /// it must be quick.
    package func whenComplete(_ callback: @escaping @Sendable (Result<Appended, StoreError>) -> Void) {
        let result = state.withLock { state -> Result<Appended, StoreError>? in
            switch state {
            case .done(let result): return result
            case .waiting(var callbacks):
                callbacks.append(callback)
                state = .waiting(callbacks)
                return nil
            }
        }
        if let result { callback(result) }
    }

    /// Waits for the outcome. Any number of tasks may wait on one ticket; each is resumed.
    package var value: Appended {
        get async throws(StoreError) {
            let result = await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<Appended, StoreError>, Never>) in
                whenComplete { continuation.resume(returning: $0) }
            }
            return try result.get()
        }
    }

    func complete(_ result: Result<Appended, StoreError>) {
        let waiting = state.withLock { state -> [@Sendable (Result<Appended, StoreError>) -> Void] in
            guard case .waiting(let callbacks) = state else { return [] }
            state = .done(result)
            return callbacks
        }
        for callback in waiting { callback(result) }
    }
}

/// How a store is run.
package struct StoreOptions: Sendable {
    /// The most events waiting for the writer; appenders beyond it wait.
    package var queueCapacity = 8192
    /// The most events in one transaction.
    package var maximumBatch = 4096
    /// After a batch of 8 or more, how long the writer may wait for the appenders it just
    /// acknowledged to send their next events, so that they share the next transaction.
    /// Zero disables it; it never applies to a lone event.
    package var commitDelay: Duration = .microseconds(200)
    /// Reader connections (queries, verify, stats).
    package var maximumReaders = 4
    /// The writer's page cache, in KiB: large enough to keep the indexes' hot pages in memory.
    package var writerCacheKiB = 65536
    /// The page size of a new database, in bytes (docs/storage.md explains the choice).
    package var pageSize = 4096
    /// How many committed records may wait for the user and address indexes while appends keep
    /// coming; when the writer is idle it indexes them after ``indexIdleDelay``. Larger merges
    /// cost less per record; queries read records not yet indexed by seq range (docs/storage.md).
    package var indexMergeThreshold = 32768
    /// The most records one merge transaction takes: the writer commits nothing while it
    /// merges, and holds the merged records' sessions and accounts in memory, so a long backlog
    /// is merged in steps of this many with commits between them.
    package var indexMergeStep = 8192
    /// How long the writer must be idle before it indexes the remaining records.
    package var indexIdleDelay: Duration = .milliseconds(50)
    /// Chains at least this long are verified in parallel segments, one per core.
    package var parallelVerifyThreshold = 50_000
    /// Retention: records older than this are pruned (`nil`: kept forever).
    package var maximumAge: Duration?
    /// Retention: only this many newest records are kept (`nil`: all).
    package var maximumRecords: Int?
    /// Whose events make the sessions and accounts (`last`, `lastlog`): root's by default.
    package var trustedSenders = TrustedSenders.rootOnly
    /// How logins are judged as they are stored (docs/verdicts.md); `nil` judges none.
    package var verdicts: VerdictSettings?
    /// Where `system-account-login` learns an account's uid and shell: `/etc/passwd`.
    package var accountFacts: @Sendable (String) -> AccountFacts? = LocalAccounts.system.facts(of:)
    /// Told how a long migration is getting on (`records 200000 of 1000000`), every 100,000
    /// records: the daemon extends its start-up timeout with it.
    package var migrationProgress: (@Sendable (String) -> Void)?

    /// Default options: keep everything.
    package init() {}
}

/// A connection handed to `connection_created` receivers, valid during the call only.
struct SQLConnection: DatabaseConnection, @unchecked Sendable {
    let database: Database

    init(_ database: Database) { self.database = database }

    func execute(_ sql: String) throws { try database.execute(sql: sql) }
}
