import AuthSignalCore
import Dispatch
import Foundation
import GRDB
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
        let continuation: CheckedContinuation<Appended, any Error>
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
        var committedTransactions = 0
    }

    private let pool: DatabasePool
    private let path: String
    private let capacity: Int
    private let maximumBatch: Int
    private let state: Mutex<State>
    /// Commits run on their own thread: SQLite blocks in fsync, which must not hold up the
    /// cooperative thread pool.
    private let queue = DispatchQueue(label: "authsignal.store.writer", qos: .userInitiated)

    init(pool: DatabasePool, path: String, head: WriterHead, options: StoreOptions) {
        self.pool = pool
        self.path = path
        self.capacity = max(options.queueCapacity, 1)
        self.maximumBatch = max(options.maximumBatch, 1)
        self.state = Mutex(State(head: head))
    }

    var head: WriterHead { state.withLock { $0.head } }
    var committedTransactions: Int { state.withLock { $0.committedTransactions } }

    func append(_ event: RedactedEvent) async throws(StoreError) -> Appended {
        await reserveSlot()
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let startCommitting = state.withLock { state -> Bool? in
                    state.reserved -= 1
                    if state.closed { return nil }
                    state.pending.append(Pending(event: event, continuation: continuation))
                    if state.committing { return false }
                    state.committing = true
                    return true
                }
                switch startCommitting {
                case nil: continuation.resume(throwing: StoreError.closed)
                case true?: queue.async { self.drain() }
                case false?: break
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
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

    /// Commits batches until the queue is empty.
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
                for continuation in idle { continuation.resume() }
                return
            }
            let results = commit(batch)
            for (pending, result) in zip(batch, results) {
                pending.continuation.resume(with: result.mapError { $0 as any Error })
            }
        }
    }

    /// One transaction for the whole batch: every event is stored, or none is.
    private func commit(_ batch: [Pending]) -> [Result<Appended, StoreError>] {
        let start = state.withLock { $0.head }
        var head = start
        var outcomes: [Appended] = []
        var saved: [(fields: RecordColumns, event: RedactedEvent, prevHash: Data, hash: Data)] = []
        let listening = ModelSignalListeners()
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    head = start
                    outcomes.removeAll(keepingCapacity: true)
                    saved.removeAll(keepingCapacity: true)
                    var keys: [String: Int64] = [:]
                    let insert = try db.cachedStatement(sql: RecordColumns.insertSQL)
                    let lookup = try db.cachedStatement(sql: "SELECT seq FROM records WHERE idem = ?")
                    for pending in batch {
                        let event = pending.event
                        if let key = event.id {
                            let existing = try keys[key] ?? Int64.fetchOne(lookup, arguments: [key])
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
                        let fields = RecordColumns(seq: head.seq, received: head.received, event: event)
                        let hash = RecordHash.hash(fields, prevHash: head.hash)
                        if listening.postInit || listening.preSave {
                            let record = AuditRecord(fields: fields, event: event, prevHash: head.hash, hash: hash)
                            if listening.postInit {
                                postInit.sendRobust(sender: AuditStore.recordSender, PostInit(instance: record))
                            }
                            if listening.preSave {
                                preSave.sendRobust(
                                    sender: AuditStore.recordSender, PreSave(instance: record, using: path))
                            }
                        }
                        try insert.execute(arguments: Self.arguments(fields, prevHash: head.hash, hash: hash))
                        if listening.postSave { saved.append((fields, event, head.hash, hash)) }
                        head.hash = hash
                        if let key = event.id { keys[key] = head.seq }
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
        state.withLock { state in
            state.head = head
            state.committedTransactions += 1
        }
        for entry in saved {
            let record = AuditRecord(
                fields: entry.fields, event: entry.event, prevHash: entry.prevHash, hash: entry.hash)
            postSave.sendRobust(sender: AuditStore.recordSender, PostSave(instance: record, created: true, using: path))
        }
        return outcomes.map { .success($0) }
    }

    static func arguments(_ fields: RecordColumns, prevHash: Data, hash: Data) -> StatementArguments {
        StatementArguments(
            [
                fields.seq, fields.received, fields.time, fields.signal, fields.sender, fields.user,
                fields.remoteAddr, fields.request, fields.credentials, fields.peerUID, fields.peerGID,
                fields.peerPID, fields.idempotencyKey, prevHash, hash,
            ] as [(any DatabaseValueConvertible)?])
    }
}

/// Which model signals have listeners, checked once per batch: with nobody listening, building
/// records for them costs nothing.
struct ModelSignalListeners {
    let preInit = Signals.preInitListened
    let postInit = Signals.postInitListened
    let preSave = Signals.preSaveListened
    let postSave = Signals.postSaveListened
}

private enum Signals {
    static var preInitListened: Bool { AuthSignalCore.preInit.hasListeners(sender: AuditStore.recordSender) }
    static var postInitListened: Bool { AuthSignalCore.postInit.hasListeners(sender: AuditStore.recordSender) }
    static var preSaveListened: Bool { AuthSignalCore.preSave.hasListeners(sender: AuditStore.recordSender) }
    static var postSaveListened: Bool { AuthSignalCore.postSave.hasListeners(sender: AuditStore.recordSender) }
}

extension AuditRecord {
    init(fields: RecordColumns, event: RedactedEvent, prevHash: Data, hash: Data) {
        self.init(
            seq: fields.seq, received: Microseconds.date(fields.received), time: event.time,
            signal: event.signal, sender: event.sender, user: event.user, remoteAddr: event.remoteAddr,
            request: event.request, credentials: event.credentials, peer: event.peer,
            idempotencyKey: event.id, prevHash: prevHash, hash: hash)
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
