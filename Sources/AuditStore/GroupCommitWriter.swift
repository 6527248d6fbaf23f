import AuthSignalCore
import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import Signals
import Synchronization

/// The writer's view of the chain: the last record's seq, received time and hash.
struct WriterHead: Sendable {
    var seq: Int64
    var received: Int64
    var hash: Data

    var chainHead: ChainHead { ChainHead(seq: seq, hash: hash) }
}

/// The one writer: puts every event queued while a commit is in flight into the next
/// transaction, and resumes each appender only once its transaction has committed.
///
/// There is no timer: an idle writer commits a lone event at once; under load, batches grow to
/// whatever arrived during the previous commit (at most ``StoreOptions/maximumBatch``).
final class GroupCommitWriter: Sendable {
    struct Pending: Sendable {
        let event: RedactedEvent
        /// The event's columns, encoded by the appender so that the writer's thread only numbers,
        /// hashes and stores them.
        let columns: EncodedColumns
        let ticket: AppendTicket
    }

    struct State: ~Copyable {
        var pending: [Pending] = []
        /// Queue slots promised to appenders that are about to enqueue.
        var reserved = 0
        var committing = false
        var closed = false
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var head: WriterHead
        /// Every record up to this seq is in the user and address indexes.
        var indexedThrough: Int64
        var counters = Counters()
        var indexMerges = 0
        /// Whether an idle merge is scheduled, and when the writer last finished work.
        var idleMergeScheduled = false
        var lastActive = ContinuousClock.now
        /// When the writer last started on work or finished a transaction.
        var progressAt = ContinuousClock.now
        /// Whose events the merge takes into the sessions and accounts.
        var trusted: TrustedSenders
    }

    private let pool: DatabasePool
    private let path: String
    private let capacity: Int
    private let maximumBatch: Int
    private let mergeThreshold: Int64
    private let mergeStep: Int64
    private let idleDelay: Duration
    private let commitDelay: Duration
    private let state: Mutex<State>
    /// Commits run on their own thread: SQLite blocks in fsync, which must not hold up the
    /// cooperative thread pool. Default quality of service: on Linux a higher one only makes
    /// libdispatch try to lower the thread's nice value, which the daemon may not (`DispatchLog`).
    private let queue = DispatchQueue(label: "authsignal.store.writer")
    /// Where committed appends are answered, in commit order, while the writer goes on to the
    /// next transaction: resuming an appender wakes a thread (a futex call), and doing that for
    /// every record on the writer's thread had taken 40 % of its time under load.
    private let acknowledgements = DispatchQueue(label: "authsignal.store.acknowledgements")

    init(pool: DatabasePool, path: String, head: WriterHead, indexedThrough: Int64, options: StoreOptions) {
        self.pool = pool
        self.path = path
        self.capacity = max(options.queueCapacity, 1)
        self.maximumBatch = max(options.maximumBatch, 1)
        self.mergeThreshold = Int64(max(options.indexMergeThreshold, 1))
        self.mergeStep = Int64(max(options.indexMergeStep, 1))
        self.idleDelay = options.indexIdleDelay
        self.commitDelay = options.commitDelay
        self.state = Mutex(State(head: head, indexedThrough: indexedThrough, trusted: options.trustedSenders))
        // Records a previous run left unindexed (it stopped before its idle merge) are merged
        // once this one has been idle a moment, so that readers do not apply them at every query.
        scheduleIdleMerge()
    }

    var head: WriterHead { state.withLock { $0.head } }

    /// Whose events the merge takes into the sessions and accounts; readers apply the same to
    /// the records not merged yet. Set anew on reload: it applies to the records merged after.
    var trusted: TrustedSenders {
        get { state.withLock { $0.trusted } }
        set { state.withLock { $0.trusted = newValue } }
    }
    /// What the writer has committed since it started, read at once so that its parts agree.
    struct Counters: Sendable {
        var committedTransactions = 0
        /// How long each committed transaction took, fsync included.
        var commitLatency = LatencyHistogram()
        /// Records stored (duplicates not counted), per signal.
        var stored: [AuthSignal: Int] = [:]
    }

    var counters: Counters { state.withLock { $0.counters } }
    var indexMerges: Int { state.withLock { $0.indexMerges } }

    /// How long the writer has had work without finishing a transaction; `nil` when idle.
    var stall: Duration? {
        state.withLock { state in
            state.committing || !state.pending.isEmpty ? ContinuousClock.now - state.progressAt : nil
        }
    }

    func append(_ event: RedactedEvent) async throws(StoreError) -> Appended {
        await reserveSlot()
        return try await enqueue(event, reserved: true).value
    }

    /// Queues `event` at once, without waiting for room (the caller bounds what it submits).
    func submit(_ event: RedactedEvent) -> AppendTicket {
        enqueue(event, reserved: false)
    }

    private func enqueue(_ event: RedactedEvent, reserved: Bool) -> AppendTicket {
        let ticket = AppendTicket()
        let columns = EncodedColumns(RecordColumns(seq: 0, received: 0, event: event))
        let startCommitting = state.withLock { state -> Bool? in
            if reserved { state.reserved -= 1 }
            if state.closed { return nil }
            state.pending.append(Pending(event: event, columns: columns, ticket: ticket))
            if state.committing { return false }
            state.committing = true
            state.progressAt = .now
            return true
        }
        switch startCommitting {
        case nil: ticket.complete(.failure(.closed))
        case true?: queue.async { self.drain() }
        case false?: break
        }
        return ticket
    }

    /// Waits for room in the queue (back-pressure), then holds one slot.
    private func reserveSlot() async {
        let reserved = state.withLock { state -> Bool in
            guard state.pending.count + state.reserved < capacity else { return false }
            state.reserved += 1
            return true
        }
        if reserved { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.pending.count + state.reserved < capacity {
                    state.reserved += 1
                    return true
                }
                state.spaceWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Indexes every committed record now. Runs on the writer's queue, so never during a commit.
    func mergePendingIndexes() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                while self.mergeIndexes() {}
                continuation.resume()
            }
        }
    }

    /// Refuses new appends and waits until every queued one is answered.
    func shutDown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                state.closed = true
                if !state.committing && state.pending.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Commits batches until the queue is empty; indexes in bulk when enough records wait.
    private func drain() {
        while true {
            let (batch, woken, idle) = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.committing = false
                    let idle = state.idleWaiters
                    state.idleWaiters = []
                    return ([Pending](), [CheckedContinuation<Void, Never>](), idle)
                }
                let count = min(state.pending.count, maximumBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                let wake = min(count, state.spaceWaiters.count)
                let woken = Array(state.spaceWaiters.prefix(wake))
                state.spaceWaiters.removeFirst(wake)
                state.reserved += wake
                return (batch, woken, [])
            }
            for continuation in woken { continuation.resume() }
            if batch.isEmpty {
                // After the answers already handed over: whoever waits for idleness also waits
                // for every append to be answered.
                acknowledgements.async { for continuation in idle { continuation.resume() } }
                scheduleIdleMerge()
                return
            }
            let results = commit(batch)
            acknowledgements.async {
                for (pending, result) in zip(batch, results) { pending.ticket.complete(result) }
            }
            let backlog = state.withLock { state in
                state.progressAt = .now
                return state.head.seq - state.indexedThrough
            }
            if backlog >= mergeThreshold { mergeIndexes() }
            gatherAfterLargeBatch(batch.count)
        }
    }

    /// Under load, gives the appenders just acknowledged a moment to send their next events, so
    /// that they join the next transaction instead of waiting a whole commit for the one after
    /// (the commit delay of MySQL's binary log group commit). Waits only after a batch of 8 or
    /// more, at most `commitDelay`, and not at all once as many events are queued as the last
    /// batch held: an idle writer never waits.
    private func gatherAfterLargeBatch(_ size: Int) {
        guard size >= 8 else { return }
        let deadline = ContinuousClock.now + commitDelay
        while state.withLock({ $0.pending.count }) < size, ContinuousClock.now < deadline {
            usleep(20)
        }
    }

    /// Indexes the remaining records once the writer has been idle for `idleDelay`.
    private func scheduleIdleMerge(after delay: Duration? = nil) {
        let schedule = state.withLock { state -> Bool in
            if delay == nil { state.lastActive = ContinuousClock.now }
            guard delay != nil || !state.idleMergeScheduled else { return false }
            guard !state.closed, state.head.seq > state.indexedThrough else {
                state.idleMergeScheduled = false
                return false
            }
            state.idleMergeScheduled = true
            return true
        }
        guard schedule else { return }
        queue.asyncAfter(deadline: .now() + (delay ?? idleDelay).inSeconds) { [weak self] in self?.idleMergeIfIdle() }
    }

    private func idleMergeIfIdle() {
        enum Decision { case merge, later(Duration), drop }
        let decision = state.withLock { state -> Decision in
            guard !state.closed, state.head.seq > state.indexedThrough else {
                state.idleMergeScheduled = false
                return .drop
            }
            let quiet = ContinuousClock.now - state.lastActive
            guard !state.committing, state.pending.isEmpty, quiet >= idleDelay else {
                return .later(max(idleDelay - quiet, .milliseconds(1)))
            }
            state.idleMergeScheduled = false
            state.committing = true
            state.progressAt = .now
            return .merge
        }
        switch decision {
        case .drop: return
        case .later(let remaining): scheduleIdleMerge(after: remaining)
        case .merge:
            mergeIndexes()
            // Appends that arrived meanwhile found the writer busy and are waiting for it.
            drain()
        }
    }

    /// Adds up to `mergeStep` committed records not yet indexed to the user and address indexes
    /// and the sessions and accounts, in one transaction. On failure the records stay readable
    /// by seq range and the next merge retries.
    /// - Returns: whether records were merged and more wait.
    @discardableResult
    private func mergeIndexes() -> Bool {
        let (through, head, trusted) = state.withLock { state in
            (min(state.head.seq, state.indexedThrough + mergeStep), state.head.seq, state.trusted)
        }
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try Schema.mergeIndexes(db, through: through, trusted: trusted)
                    return .commit
                }
            }
            state.withLock { state in
                state.indexedThrough = max(state.indexedThrough, through)
                state.indexMerges += 1
            }
            return through < head
        } catch {
            // Nothing to undo: the mark moves only with a committed merge.
            return false
        }
    }

    /// One transaction for the whole batch: every event is stored, or none is.
    private func commit(_ batch: [Pending]) -> [Result<Appended, StoreError>] {
        let start = state.withLock { $0.head }
        var head = start
        var outcomes: [Appended] = []
        var saved: [(seq: Int64, received: Int64, event: RedactedEvent, prevHash: Data, hash: Data)] = []
        let listening = ModelSignalListeners()
        let began = ContinuousClock.now
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    head = start
                    outcomes.removeAll(keepingCapacity: true)
                    saved.removeAll(keepingCapacity: true)
                    // Keyed by the id's bytes, as SQLite's unique index compares them: Swift's
                    // String equality would take two normalisations of one text for one id.
                    var keys: [[UInt8]: Int64] = [:]
                    let insert = try db.cachedStatement(sql: RecordLayout.insertSQL)
                    let lookup = try db.cachedStatement(sql: "SELECT seq FROM records WHERE idem = ?")
                    for pending in batch {
                        let event = pending.event
                        if let key = event.id {
                            let existing = try keys[Array(key.utf8)] ?? Int64.fetchOne(lookup, arguments: [key])
                            if let existing {
                                outcomes.append(Appended(seq: existing, duplicate: true))
                                continue
                            }
                        }
                        if listening.preInit {
                            preInit.sendRobust(sender: AuditStore.recordSender, PreInit(values: event))
                        }
                        head.seq += 1
                        head.received = max(Microseconds.from(Date()), head.received)
                        let hash = RecordHash.hash(
                            seq: head.seq, received: head.received, pending.columns, prevHash: head.hash)
                        if listening.postInit || listening.preSave {
                            let record = AuditRecord(
                                event: event, seq: head.seq, received: Microseconds.date(head.received),
                                prevHash: head.hash, hash: hash)
                            if listening.postInit {
                                postInit.sendRobust(sender: AuditStore.recordSender, PostInit(instance: record))
                            }
                            if listening.preSave {
                                preSave.sendRobust(
                                    sender: AuditStore.recordSender, PreSave(instance: record, using: path))
                            }
                        }
                        try RawInsert.run(
                            insert, seq: head.seq, received: head.received, pending.columns, prevHash: head.hash,
                            hash: hash)
                        saved.append((head.seq, head.received, event, head.hash, hash))
                        head.hash = hash
                        if let key = event.id { keys[Array(key.utf8)] = head.seq }
                        outcomes.append(Appended(seq: head.seq, duplicate: false))
                    }
                    return .commit
                }
            }
        } catch {
            let failure = StoreError.unavailable(StoreFailure.describe(error))
            // Whatever SQLite rolled back, continue from what the file really holds.
            if let reloaded = try? pool.read({ db in try AuditStore.loadHead(db) }) {
                state.withLock { $0.head = reloaded }
            }
            return Array(repeating: .failure(failure), count: batch.count)
        }
        let took = ContinuousClock.now - began
        // Counted outside the lock that appenders wait on.
        var stored: [AuthSignal: Int] = [:]
        for entry in saved { stored[entry.event.signal, default: 0] += 1 }
        state.withLock { state in
            state.head = head
            state.counters.committedTransactions += 1
            state.counters.commitLatency.record(took)
            state.counters.stored.merge(stored, uniquingKeysWith: +)
        }
        // Asked only now, after the new head is published: a receiver that connects and then
        // reads the chain head either sees these records in the head or hears them here.
        if postSave.hasListeners(sender: AuditStore.recordSender) {
            for entry in saved {
                let record = AuditRecord(
                    event: entry.event, seq: entry.seq, received: Microseconds.date(entry.received),
                    prevHash: entry.prevHash, hash: entry.hash)
                postSave.sendRobust(
                    sender: AuditStore.recordSender, PostSave(instance: record, created: true, using: path))
            }
        }
        return outcomes.map { .success($0) }
    }
}

/// Runs the insert statement for one record, bound straight through SQLite's C API: the writer's
/// per-record cost matters, and GRDB's general argument handling boxes every value.
enum RawInsert {
    static func run(
        _ statement: Statement, seq: Int64, received: Int64, _ columns: EncodedColumns, prevHash: Data, hash: Data
    ) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        RecordBinding.bind(seq: seq, received: received, columns, prevHash: prevHash, hash: hash, to: handle)
        try DirectStatement.step(handle)
    }
}

/// Which of `pre_init`, `post_init` and `pre_save` have listeners, checked once per batch: with
/// nobody listening, building records for them costs nothing. (`post_save` is asked after the
/// commit, see ``GroupCommitWriter``.)
struct ModelSignalListeners {
    let preInit = AuthSignalCore.preInit.hasListeners(sender: AuditStore.recordSender)
    let postInit = AuthSignalCore.postInit.hasListeners(sender: AuditStore.recordSender)
    let preSave = AuthSignalCore.preSave.hasListeners(sender: AuditStore.recordSender)
}

/// Turns SQLite errors into messages that name the cause and never data.
enum StoreFailure {
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(type(of: error))" }
        let cause =
            switch error.resultCode {
            case .SQLITE_FULL: "disk full"
            case .SQLITE_IOERR: "I/O error"
            case .SQLITE_READONLY: "database is read-only"
            case .SQLITE_CANTOPEN: "cannot open the database file"
            case .SQLITE_BUSY, .SQLITE_LOCKED: "database is busy"
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: "database is corrupt"
            case .SQLITE_PERM, .SQLITE_AUTH: "permission denied"
            default: "SQLite error \(error.resultCode.rawValue)"
            }
        if let message = error.message { return "\(cause) (\(message))" }
        return cause
    }
}
