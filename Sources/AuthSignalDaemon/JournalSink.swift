import AuditJournal
package import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
import Foundation
import Synchronization
import Systemd

/// Writes committed records to the journal off the acknowledgement path, every one of them: what
/// journald does not take now is sent from the audit log once it does.
///
/// ``offer(_:)`` only enqueues (it runs on the store's writer thread right after a commit); a
/// thread of the sink's own, started and awaited by ``run()``, sends the entries (journald can
/// block a writer, so they never go from the cooperative pool or an event loop). The queue is bounded. When it is full, or journald refuses
/// an entry (absent, stopped), the sink stops queueing and remembers the first record the
/// journal lacks; it then reads the records from the audit log by seq, a page at a time, retrying
/// each second while journald refuses, until it has caught up with the commits and queues again.
/// Memory stays within the queue and one page however long journald is away, and the SQLite
/// record (the system of record) is never delayed. A record pruned by retention before the
/// journal got it is counted as dropped. With a ``JournalPosition`` the catching up survives a
/// restart: the next daemon starts from the last record the journal got. The thread also anchors the chain head in the journal
/// every `AnchorEveryRecords` records or `AnchorIntervalSec` seconds.
package final class JournalSink: Sendable {
    /// What the journal got and did not get since start.
    package struct Counters: Sendable, Hashable {
        /// Entries journald accepted.
        package var sent = 0
        /// Records the journal can never get: pruned from the audit log before it caught up.
        package var dropped = 0
        /// Attempts journald refused (absent or refusing); each record is tried again.
        package var failed = 0
        /// Chain anchors written.
        package var anchors = 0
        /// Chain anchors that could not be written.
        package var anchorFailures = 0
        /// Entries waiting in the queue now.
        package var queued = 0
        /// Records committed that the journal has not got yet (queued, or to be read from the log).
        package var lag = 0
        /// Entries sent from the audit log while catching up (also counted in ``sent``).
        package var fromLog = 0
    }

    /// Timing and capacity.
    package struct Settings: Sendable, Hashable {
        /// The most entries waiting.
        package var capacity: Int
        /// Anchor after this many records…
        package var anchorEveryRecords: Int
        /// …or this long after the first record not anchored.
        package var anchorInterval: Duration
        /// The head is anchored again after this long without an anchor (`nil`: never).
        package var anchorHeartbeat: Duration?
        /// The senders whose records are written as trusted.
        package var trusted: TrustedSenders

        /// Settings from the daemon's configuration, with its trusted senders as the access
        /// policy resolved them.
        package init(_ config: DaemonConfig, trusted: TrustedSenders) {
            capacity = config.journalQueueCapacity
            anchorEveryRecords = config.anchorEveryRecords
            anchorInterval = .seconds(config.anchorIntervalSeconds)
            anchorHeartbeat = config.anchorHeartbeatSeconds > 0 ? .seconds(config.anchorHeartbeatSeconds) : nil
            self.trusted = trusted
        }
    }

    /// Reads up to `limit` records with a seq above `after` from the audit log, in seq order.
    package typealias LogReader = @Sendable (_ after: Int64, _ limit: Int) throws -> [AuditRecord]

    private struct State: ~Copyable {
        var queue: [AuditRecord] = []
        var head = 0
        var counters = Counters()
        var settings: Settings
        var stopping = false
        var lastAnchored: Int64 = 0
        var unanchoredSince: ContinuousClock.Instant?
        /// When the last anchor was written (or the sink started).
        var anchoredAt = ContinuousClock.now
        /// The last record the journal got.
        var latest: (seq: Int64, hash: Data)?
        /// The newest record offered (committed).
        var committed: Int64 = 0
        /// The last record the journal got, or the one before the first offered.
        var sentThrough: Int64?
        /// Every record before this seq was sent or is queued.
        var expected: Int64 = 0
        /// While catching up: the first record the journal lacks that is not queued.
        var backlogFrom: Int64?
        /// The position last kept, and when.
        var keptPosition: Int64 = -1
        var keptAt = ContinuousClock.now

        var count: Int { queue.count - head }

        /// Empties the queue and catches up from the log instead, from `seq` or the first record
        /// still queued, whichever is earlier.
        mutating func fallBack(to seq: Int64) {
            let first = count > 0 ? min(queue[head].seq, seq) : seq
            queue.removeAll()
            head = 0
            backlogFrom = min(backlogFrom ?? first, first)
            expected = min(expected, first)
        }
    }

    /// Entries sent in one round, and records read from the log in one page.
    static let batchSize = 256
    /// How long to wait before trying a journald that refused again.
    static let retryDelay = 1.0

    private let state: Mutex<State>
    /// Wakes the sending thread (a new entry, or stop); only that thread waits on it.
    private let wakeup = DispatchSemaphore(value: 0)
    /// Whether the sending thread has ended, and ``run()`` waiting for that.
    private let ending = Mutex<(ended: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
    private let writer: JournalWriter
    private let readLog: LogReader
    private let logID: String
    private let position: JournalPosition?

    /// A sink whose thread ``run()`` starts; until then, offers are queued.
    /// - Parameters:
    ///   - logID: the audit log's identity, written into every anchor.
    ///   - position: where the journal copy's progress is kept across restarts, if anywhere.
    ///   - head: the log's last seq now: records after the kept position up to it are sent first.
    ///   - readLog: reads committed records back, to send what the queue could not hold.
    init(
        settings: Settings, logID: String, writer: JournalWriter = JournalWriter(), position: JournalPosition? = nil,
        head: Int64 = 0, readLog: @escaping LogReader
    ) {
        var initial = State(settings: settings)
        if let kept = position?.load(), kept < head {
            initial.backlogFrom = kept + 1
            initial.expected = kept + 1
            initial.committed = head
            initial.sentThrough = kept
        } else if head > 0, let last = try? readLog(head - 1, 1).first {
            // Caught up at start (the last daemon anchored its final head as it stopped): the
            // heartbeat anchors this head while no record comes.
            initial.latest = (last.seq, last.hash)
            initial.lastAnchored = last.seq
        }
        state = Mutex(initial)
        self.writer = writer
        self.readLog = readLog
        self.logID = logID
        self.position = position
    }

    /// Starts the sending thread and returns once it has ended after ``stop(timeout:)``: it has
    /// sent what was queued and anchored the final head, or the stop's timeout has passed (a
    /// journald that takes nothing must not hold up the daemon's exit).
    package func run() async {
        let thread = Thread { [self] in
            send()
            finish()
        }
        thread.name = "authsignald.journal"
        thread.start()
        await withCheckedContinuation { continuation in
            let ended = ending.withLock { ending in
                if !ending.ended { ending.waiter = continuation }
                return ending.ended
            }
            if ended { continuation.resume() }
        }
    }

    /// Marks the sending thread ended (or given up on), resuming ``run()``.
    private func finish() {
        let waiter = ending.withLock { ending in
            ending.ended = true
            defer { ending.waiter = nil }
            return ending.waiter
        }
        waiter?.resume()
    }

    /// Applies new settings (a reload).
    package func update(_ settings: Settings) {
        state.withLock { $0.settings = settings }
    }

    /// The counters now.
    package var counters: Counters {
        state.withLock { state in
            var counters = state.counters
            counters.queued = state.count
            counters.lag = Int(max(0, state.committed - (state.sentThrough ?? state.committed)))
            return counters
        }
    }

    /// Enqueues `record`; when the queue is full, or while catching up, leaves it to be read from
    /// the audit log. Never blocks.
    package func offer(_ record: AuditRecord) {
        let wasEmpty = state.withLock { state -> Bool? in
            guard !state.stopping else { return nil }
            state.committed = max(state.committed, record.seq)
            if state.sentThrough == nil { state.sentThrough = record.seq - 1 }
            // Sent already, from the log, before its offer came.
            guard record.seq >= state.expected else { return nil }
            guard state.backlogFrom == nil else { return nil }
            guard state.count < state.settings.capacity else {
                state.fallBack(to: record.seq)
                return nil
            }
            state.queue.append(record)
            state.expected = record.seq + 1
            return state.count == 1
        }
        if wasEmpty == true { wakeup.signal() }
    }

    /// Asks the thread to send what is queued, anchor the final chain head, and end; ``run()``
    /// returns when it has, or after `timeout`. Returns at once.
    package func stop(timeout: Duration = .seconds(5)) {
        state.withLock { $0.stopping = true }
        wakeup.signal()
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.inSeconds) { [self] in finish() }
    }

    /// What one round does: records to send, and whether they come from the log.
    private struct Round {
        var records: [AuditRecord] = []
        var fromLog = false
        var stopping = false
        var idle = false
    }

    /// The sending thread's loop.
    private func send() {
        while true {
            let round = nextRound()
            var sent = 0
            var refused: Int64?
            let trusted = state.withLock { $0.settings.trusted }
            for record in round.records {
                do {
                    try writer.send(
                        AuditJournal.entry(for: record, trustedSender: trusted.trusts(record.peer.uid), logID: logID))
                    sent += 1
                    state.withLock { state in
                        state.latest = (record.seq, record.hash)
                        state.sentThrough = max(state.sentThrough ?? record.seq, record.seq)
                    }
                } catch {
                    refused = record.seq
                    break
                }
            }
            let anchor = dueAnchor(final: round.stopping)
            var anchored: Bool?
            if let (seq, hash) = anchor {
                anchored =
                    (try? writer.send(AuditJournal.anchorEntry(seq: seq, hash: Array(hash), logID: logID))) != nil
            }
            let caughtUp = state.withLock { state -> Bool in
                state.counters.sent += sent
                if round.fromLog {
                    state.counters.fromLog += sent
                    if let last = round.records.prefix(sent).last, refused == nil {
                        state.backlogFrom = last.seq + 1
                        state.expected = max(state.expected, last.seq + 1)
                    }
                }
                if let refused {
                    state.counters.failed += 1
                    state.fallBack(to: refused)
                }
                if let anchored {
                    if anchored { state.counters.anchors += 1 } else { state.counters.anchorFailures += 1 }
                }
                // Caught up: every committed record sent; offers queue again.
                if let from = state.backlogFrom, from > state.committed {
                    state.backlogFrom = nil
                    state.expected = max(state.expected, from)
                }
                return state.backlogFrom == nil && state.count == 0
            }
            keepPosition(final: round.stopping)
            if round.stopping && (caughtUp || refused != nil || round.records.isEmpty) { return }
            if refused != nil {
                _ = wakeup.wait(timeout: .now() + Self.retryDelay)
            } else if round.idle {
                _ = wakeup.wait(timeout: .now() + 1)
            }
        }
    }

    /// Keeps the last record the journal got in ``position``, at most once a second (`final`: now).
    private func keepPosition(final: Bool) {
        guard let position else { return }
        let due = state.withLock { state -> Int64? in
            guard let sent = state.sentThrough, sent > state.keptPosition else { return nil }
            guard final || ContinuousClock.now - state.keptAt >= .seconds(1) else { return nil }
            state.keptPosition = sent
            state.keptAt = .now
            return sent
        }
        if let due { position.store(due) }
    }

    /// The next records to send: the queue's, else a page read from the log while catching up.
    private func nextRound() -> Round {
        var round = Round()
        let backlog = state.withLock { state -> Int64? in
            round.stopping = state.stopping
            let batch = Array(state.queue[state.head...].prefix(Self.batchSize))
            state.head += batch.count
            if state.head == state.queue.count {
                state.queue.removeAll(keepingCapacity: state.queue.capacity <= 4096)
                state.head = 0
            } else if state.head > 65536 {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            round.records = batch
            return batch.isEmpty ? state.backlogFrom : nil
        }
        guard let from = backlog else {
            round.idle = round.records.isEmpty
            return round
        }
        round.fromLog = true
        do {
            round.records = try readLog(from - 1, Self.batchSize)
        } catch {
            // The log cannot be read now: try again after a pause, as for a refusing journald.
            _ = wakeup.wait(timeout: .now() + Self.retryDelay)
            return round
        }
        state.withLock { state in
            // Records between `from` and the first one read were pruned before the journal got them.
            let first = round.records.first?.seq ?? (state.committed + 1)
            if first > from { state.counters.dropped += Int(min(first, state.committed + 1) - from) }
            if round.records.isEmpty {
                state.backlogFrom = state.committed + 1
            } else if first > from {
                state.backlogFrom = first
            }
        }
        return round
    }

    /// The chain head to anchor now, if one is due: after `anchorEveryRecords` records or
    /// `anchorInterval` since the first not anchored, or the same head again after
    /// `anchorHeartbeat` without an anchor (`final`: at stop, whatever is not anchored).
    private func dueAnchor(final: Bool) -> (Int64, Data)? {
        state.withLock { state in
            guard let latest = state.latest else { return nil }
            let heartbeat = state.settings.anchorHeartbeat.map { ContinuousClock.now - state.anchoredAt >= $0 } ?? false
            if latest.seq <= state.lastAnchored {
                // Nothing new: only the heartbeat anchors the same head again.
                guard heartbeat else { return nil }
            } else {
                if state.unanchoredSince == nil { state.unanchoredSince = .now }
                let due =
                    heartbeat || latest.seq - state.lastAnchored >= Int64(state.settings.anchorEveryRecords)
                    || (state.unanchoredSince.map { ContinuousClock.now - $0 >= state.settings.anchorInterval }
                        ?? false)
                guard due || (final && state.count == 0) else { return nil }
            }
            state.lastAnchored = latest.seq
            state.unanchoredSince = nil
            state.anchoredAt = .now
            return latest
        }
    }
}
