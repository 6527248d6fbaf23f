import AuthSignalCore
import AuthSignalProtocol
import Dispatch
import Foundation
import GRDB
import GRDBSQLite
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
        var counters = Counters()
        /// When the writer last started on work or finished a transaction.
        var progressAt = ContinuousClock.now
    }

    private let pool: DatabasePool
    private let path: String
    private let capacity: Int
    private let maximumBatch: Int
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
    /// Blocks handed to `acknowledgements` and not finished yet. Only the writer's thread adds to
    /// it, so when it reads 0 every earlier append has been answered.
    private let answering = Atomic<Int>(0)
    /// Merges the committed records into the indexes, sessions and accounts, on `queue` between
    /// commits.
    let merger: IndexMergeScheduler
    /// Judges trusted logins as they are stored (`nil` when no verdict is judged).
    let verdicts: VerdictKeeper?

    init(pool: DatabasePool, path: String, head: WriterHead, indexedThrough: Int64, options: StoreOptions) {
        let queue = self.queue
        verdicts = options.verdicts.map { settings in
            VerdictKeeper(
                settings: settings, trusted: options.trustedSenders, accountFacts: options.accountFacts, pool: pool,
                writerQueue: queue)
        }
        self.pool = pool
        self.path = path
        self.capacity = max(options.queueCapacity, 1)
        self.maximumBatch = max(options.maximumBatch, 1)
        self.commitDelay = options.commitDelay
        self.state = Mutex(State(head: head))
        merger = IndexMergeScheduler(
            pool: pool, queue: queue, head: head.seq, indexedThrough: indexedThrough, options: options)
        verdicts?.startLearning(through: head.seq)
    }

    var head: WriterHead { state.withLock { $0.head } }
    /// What the writer has committed since it started, read at once so that its parts agree.
    struct Counters: Sendable {
        var committedTransactions = 0
        /// How long each committed transaction took, fsync included.
        var commitLatency = LatencyHistogram()
        /// Records stored (duplicates not counted), per signal.
        var stored: [AuthSignal: Int] = [:]
    }

    var counters: Counters { state.withLock { $0.counters } }

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
        let columns = EncodedColumns(event)
        let startCommitting = state.withLock { state -> Bool? in
            if reserved { state.reserved -= 1 }
            if state.closed { return nil }
            state.pending.append(Pending(event: event, columns: columns, ticket: ticket))
            if state.committing { return false }
            state.committing = true
            state.progressAt = .now
            // Under the writer's lock, so that the merger never sees this after the idleness
            // the last drain reports.
            merger.writerIsBusy()
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

    /// Commits batches until the queue is empty; after each, the merger may merge a step.
    private func drain() {
        while true {
            let (batch, woken, idle) = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.committing = false
                    merger.writerIsIdle()
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
                return
            }
            let results = commit(batch)
            answer(batch, results)
            let head = state.withLock { state in
                state.progressAt = .now
                return state.head.seq
            }
            merger.committed(through: head)
            gatherAfterLargeBatch(batch.count)
        }
    }

    /// Answers a committed batch. A lone append with every earlier one answered (one login on an
    /// idle daemon) is answered here at once: handing it to `acknowledgements` would add a thread
    /// wake-up to the one latency a user waits on. Anything else goes to that queue, in order.
    private func answer(_ batch: [Pending], _ results: [Result<Appended, StoreError>]) {
        if batch.count == 1, answering.load(ordering: .acquiring) == 0, state.withLock({ $0.pending.isEmpty }) {
            batch[0].ticket.complete(results[0])
            return
        }
        answering.wrappingAdd(1, ordering: .relaxed)
        acknowledgements.async {
            for (pending, result) in zip(batch, results) { pending.ticket.complete(result) }
            self.answering.wrappingSubtract(1, ordering: .releasing)
        }
    }

    /// Under load, gives the appenders just acknowledged a moment to send their next events, so
    /// that they join the next transaction instead of waiting a whole commit for the one after
    /// (the commit delay of MySQL's binary log group commit). Waits only after a batch of 8 or
    /// more, at most `commitDelay`, and not at all once as many events are queued as the last
    /// batch held: an idle writer never waits.
    ///
    /// It polls every 20 µs rather than blocking on a semaphore that the appender completing the
    /// batch signals, for what was measured in issue 25 (medians of alternating runs):
    /// - store-bench, 64 appenders on an empty log: 22.5k rows/s polling, 18.7k with the
    ///   semaphore, 18.8k without gathering; 21.5 / 21.4 / 23.3 s of CPU a run (six runs each);
    /// - the daemon, 8 pipelining clients: 29.9k events/s polling, 27.3k with the semaphore
    ///   (eight runs each).
    /// Run-to-run noise on that machine was ±20 %, so the case is weak but consistent; the poll
    /// costs no measurable CPU, since it runs only while a batch is gathering.
    private func gatherAfterLargeBatch(_ size: Int) {
        guard size >= 8 else { return }
        let deadline = ContinuousClock.now + commitDelay
        while state.withLock({ $0.pending.count }) < size, ContinuousClock.now < deadline {
            usleep(20)
        }
    }

    /// One transaction for the whole batch: every event is stored, or none is.
    private func commit(_ batch: [Pending]) -> [Result<Appended, StoreError>] {
        let start = state.withLock { $0.head }
        var head = start
        var outcomes: [Appended] = []
        var saved: [SavedRecord] = []
        let signals = RecordSignals(path: path)
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
                        signals.willCreate(event)
                        head.seq += 1
                        head.received = max(Microseconds.from(Date()), head.received)
                        var record = SavedRecord(
                            seq: head.seq, received: head.received, event: event, prevHash: head.hash,
                            hash: RecordHash.hash(
                                seq: head.seq, received: head.received, pending.columns, prevHash: head.hash))
                        signals.willSave(record)
                        try RawInsert.run(
                            insert, seq: record.seq, received: record.received, pending.columns,
                            prevHash: record.prevHash, hash: record.hash)
                        if let verdicts {
                            record.verdicts = try verdicts.judge(event, seq: record.seq, received: record.received, db)
                        }
                        saved.append(record)
                        head.hash = record.hash
                        if let key = event.id { keys[Array(key.utf8)] = head.seq }
                        outcomes.append(Appended(seq: head.seq, duplicate: false))
                    }
                    return .commit
                }
            }
        } catch {
            let failure = StoreError.unavailable(StoreFailure.describe(error))
            // Whatever SQLite rolled back, continue from what the file really holds.
            let reloaded = try? pool.read({ db in try AuditStore.loadHead(db) })
            if let reloaded { state.withLock { $0.head = reloaded } }
            verdicts?.transactionFailed(head: reloaded?.seq ?? start.seq)
            return Array(repeating: .failure(failure), count: batch.count)
        }
        let took = ContinuousClock.now - began
        // Counted outside the lock that appenders wait on.
        var stored: [AuthSignal: Int] = [:]
        for record in saved { stored[record.event.signal, default: 0] += 1 }
        state.withLock { state in
            state.head = head
            state.counters.committedTransactions += 1
            state.counters.commitLatency.record(took)
            state.counters.stored.merge(stored, uniquingKeysWith: +)
        }
        verdicts?.transactionCommitted()
        // Only now, after the new head is published: a receiver that connects and then reads the
        // chain head either sees these records in the head or hears them here.
        signals.didCommit(saved)
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
