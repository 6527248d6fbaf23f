import AuthSignalProtocol
import Dispatch
import GRDB
import Synchronization

/// Keeps the user and address indexes, the sessions and the accounts up with the committed
/// records, off the appenders' path: a step at a time once the backlog passes
/// ``StoreOptions/indexMergeThreshold``, and the rest once the writer has been idle for
/// ``StoreOptions/indexIdleDelay``. Readers lay the records not merged yet over the tables, so a
/// merge may come late but never changes an answer.
///
/// Merges run on the writer's serial queue, so never during a commit; the writer tells the
/// scheduler when it commits, when it starts on work and when it runs out of it.
final class IndexMergeScheduler: Sendable {
    private struct State {
        /// Every record up to this seq is merged.
        var indexedThrough: Int64
        /// The last committed record's seq.
        var head: Int64
        /// Merge transactions committed since opening.
        var merges = 0
        /// Whether the writer has work (appends queued or being committed).
        var writerBusy = false
        /// When the writer last ran out of work.
        var idleSince = ContinuousClock.now
        var idleMergeScheduled = false
        var closed = false
        /// Whose events the merge takes into the sessions and accounts.
        var trusted: TrustedSenders
    }

    private let pool: DatabasePool
    private let queue: DispatchQueue
    private let threshold: Int64
    private let step: Int64
    private let idleDelay: Duration
    private let state: Mutex<State>

    /// A scheduler merging into `pool` on `queue` (the writer's), from `indexedThrough` on.
    init(pool: DatabasePool, queue: DispatchQueue, head: Int64, indexedThrough: Int64, options: StoreOptions) {
        self.pool = pool
        self.queue = queue
        threshold = Int64(max(options.indexMergeThreshold, 1))
        step = Int64(max(options.indexMergeStep, 1))
        idleDelay = options.indexIdleDelay
        state = Mutex(State(indexedThrough: indexedThrough, head: head, trusted: options.trustedSenders))
        // Records a previous run left unmerged (it stopped before its idle merge) are merged
        // once this one has been idle a moment, so that readers do not apply them at every query.
        writerIsIdle()
    }

    /// Whose events the merge takes into the sessions and accounts; readers apply the same to
    /// the records not merged yet. Set anew on reload: it applies to the records merged after.
    var trusted: TrustedSenders {
        get { state.withLock { $0.trusted } }
        set { state.withLock { $0.trusted = newValue } }
    }

    /// Merge transactions committed since opening.
    var merges: Int { state.withLock { $0.merges } }

    /// The writer has work: idle merges wait until it has none.
    func writerIsBusy() {
        state.withLock { $0.writerBusy = true }
    }

    /// On the writer's queue, after a commit that made `head` the last seq: merges one step if
    /// the backlog has passed the threshold.
    func committed(through head: Int64) {
        let backlog = state.withLock { state in
            state.head = head
            return head - state.indexedThrough
        }
        if backlog >= threshold { mergeStep() }
    }

    /// The writer ran out of work: merges the rest once it has stayed idle for `idleDelay`.
    func writerIsIdle() {
        scheduleIdleMerge(after: nil)
    }

    /// On the caller's task: merges every committed record now, on the writer's queue.
    func mergeAll() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                while self.mergeStep() {}
                continuation.resume()
            }
        }
    }

    /// Merges every committed record, then schedules no more merges.
    func close() async {
        await mergeAll()
        state.withLock { $0.closed = true }
    }

    /// Schedules the idle merge: `delay` after the writer went idle (`nil`: it just did).
    private func scheduleIdleMerge(after delay: Duration?) {
        let schedule = state.withLock { state -> Bool in
            if delay == nil {
                state.writerBusy = false
                state.idleSince = .now
            }
            guard delay != nil || !state.idleMergeScheduled else { return false }
            guard !state.closed, state.head > state.indexedThrough else {
                state.idleMergeScheduled = false
                return false
            }
            state.idleMergeScheduled = true
            return true
        }
        guard schedule else { return }
        queue.asyncAfter(deadline: .now() + (delay ?? idleDelay).inSeconds) { [weak self] in
            self?.mergeIfStillIdle()
        }
    }

    /// On the writer's queue: merges what is left if the writer has been idle for `idleDelay`,
    /// or looks again when it may have been.
    private func mergeIfStillIdle() {
        enum Decision { case merge, later(Duration), drop }
        let decision = state.withLock { state -> Decision in
            guard !state.closed, state.head > state.indexedThrough else {
                state.idleMergeScheduled = false
                return .drop
            }
            let quiet = ContinuousClock.now - state.idleSince
            guard !state.writerBusy, quiet >= idleDelay else {
                return .later(max(idleDelay - quiet, .milliseconds(1)))
            }
            state.idleMergeScheduled = false
            return .merge
        }
        switch decision {
        case .drop: return
        case .later(let remaining): scheduleIdleMerge(after: remaining)
        case .merge:
            // A step at a time, giving way to appends that arrive meanwhile: they queued their
            // commit behind this block, and the writer goes idle again after it.
            if mergeStep(), !state.withLock({ $0.writerBusy }) { scheduleIdleMerge(after: .zero) }
        }
    }

    /// Merges up to `step` committed records in one transaction. On failure the records stay
    /// readable by seq range and the next merge retries.
    /// - Returns: whether records were merged and more wait.
    @discardableResult
    private func mergeStep() -> Bool {
        let next = state.withLock { state -> (through: Int64, head: Int64, trusted: TrustedSenders)? in
            guard state.head > state.indexedThrough else { return nil }
            return (min(state.head, state.indexedThrough + step), state.head, state.trusted)
        }
        guard let (through, head, trusted) = next else { return false }
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try Schema.mergeIndexes(db, through: through, trusted: trusted)
                    return .commit
                }
            }
            state.withLock { state in
                state.indexedThrough = max(state.indexedThrough, through)
                state.merges += 1
            }
            return through < head
        } catch {
            // Nothing to undo: the mark moves only with a committed merge.
            return false
        }
    }
}
