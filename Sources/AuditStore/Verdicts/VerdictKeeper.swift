package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation
import GRDB
import Synchronization

/// The writer's judge: judges each trusted sender's event as the writer stores it, inside the
/// record's transaction, and stores the verdicts with it.
///
/// It learns the log's history by replaying every stored record (as `authsignal verdicts` does)
/// on a thread of its own, so that neither the daemon's start nor any commit waits for it: 6.1 s
/// for a million records on the 2-core test machine (docs/verdicts.md). Records stored meanwhile are judged when it has
/// learned, in the next transaction (their verdicts are stored then; their journal entries and
/// follows went out without). A transaction that fails leaves the judge having learned events
/// that were never stored: it then learns the history anew, the same way.
final class VerdictKeeper: Sendable {
    /// A judge that has learned the history up to a seq, waiting for the writer to adopt it.
    private struct Learned {
        var judge: VerdictJudge
        var through: Int64
        var generation: Int
    }

    private struct State: ~Copyable {
        var judge: VerdictJudge
        var trusted: TrustedSenders
        /// Whether ``judge`` has learned every stored record; while not, events are left to the
        /// catch-up.
        var ready = false
        /// Counts the learning runs begun: a run's result is adopted only if no later one began.
        var generation = 0
        /// Whether the open transaction (or a committed one since learning began) has noted
        /// that records lack verdicts (``PendingVerdicts``).
        var pendingNoted = false
        var learned: Learned?
        /// Whether the transaction that adopted the judge (and stored the catch-up's verdicts) has
        /// committed.
        var adoptionCommitted = false
        /// Who waits for that.
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let settings: VerdictSettings
    private let accountFacts: @Sendable (String) -> AccountFacts?
    private let pool: DatabasePool
    /// The writer's queue, where a judge that has learned is adopted between commits.
    private let writerQueue: DispatchQueue
    private let state: Mutex<State>

    /// A judge that has learned nothing yet; ``startLearning()`` teaches it the history in `pool`.
    init(
        settings: VerdictSettings, trusted: TrustedSenders,
        accountFacts: @escaping @Sendable (String) -> AccountFacts?, pool: DatabasePool, writerQueue: DispatchQueue
    ) {
        self.settings = settings
        self.accountFacts = accountFacts
        self.pool = pool
        self.writerQueue = writerQueue
        state = Mutex(State(judge: VerdictJudge(settings: settings, accountFacts: accountFacts), trusted: trusted))
    }

    /// Learns the stored history up to seq `through` (the writer's head, before it commits
    /// anything more) on a thread of its own, then has the writer adopt the result: every record
    /// after `through` is judged, as it commits or by the catch-up.
    func startLearning(through: Int64) {
        let (generation, trusted) = state.withLock { state in
            state.ready = false
            state.learned = nil
            state.pendingNoted = false
            state.generation += 1
            return (state.generation, state.trusted)
        }
        let (settings, accountFacts, pool) = (self.settings, self.accountFacts, self.pool)
        DispatchQueue.global().async {
            var judge = VerdictJudge(settings: settings, accountFacts: accountFacts)
            var learnedThrough = through
            do {
                try pool.read { db in
                    // Records a daemon stopped before its catch-up never had verdicts: they are
                    // judged by this one's catch-up rather than learned.
                    learnedThrough = min(through, try PendingVerdicts.after(db) ?? through)
                    try judge.learn(db, through: learnedThrough, trusted: trusted)
                }
            } catch {
                // The log cannot be read now: the next failed transaction tries again.
                return
            }
            self.state.withLock { state in
                if state.generation == generation {
                    state.learned = Learned(judge: judge, through: learnedThrough, generation: generation)
                }
            }
            // Adopted at once if the writer is idle, else by its next transaction.
            self.writerQueue.async {
                do {
                    try self.pool.writeWithoutTransaction { db in
                        try db.inTransaction(.immediate) {
                            try self.adoptLearned(db)
                            return .commit
                        }
                    }
                    self.transactionCommitted()
                } catch {
                    // Adopted by the next transaction of the writer instead.
                }
            }
        }
    }

    /// Adopts a judge that has learned, first judging (and storing the verdicts of) the records
    /// stored since the point it learned to, up to `through` (the last one stored, when `nil`), in
    /// `db`'s open transaction on the writer's queue.
    private func adoptLearned(_ db: Database, through: Int64? = nil) throws {
        guard var learned = state.withLock({ $0.learned }) else { return }
        let trusted = state.withLock { $0.trusted }
        let head = try through ?? Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") ?? 0
        try learned.judge.replay(db, after: learned.through, through: head, trusted: trusted) { event, verdicts in
            if !verdicts.isEmpty { try VerdictTable.insert(verdicts, seq: event.seq, db) }
        }
        try PendingVerdicts.clear(db)
        state.withLock { state in
            guard state.generation == learned.generation else { return }
            state.judge = learned.judge
            state.learned = nil
            state.ready = true
            state.adoptionCommitted = false
        }
    }

    /// Tells the keeper that the writer's transaction committed: once the one that adopted the
    /// judge has, whoever waits in ``ready()`` goes on.
    func transactionCommitted() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.ready, !state.adoptionCommitted else { return [] }
            state.adoptionCommitted = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the judge has learned the stored history, and the catch-up's verdicts are
    /// committed: the records stored from then on are judged as they commit.
    func ready() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.ready && state.adoptionCommitted { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Whose events are judged from now on.
    func trust(_ senders: TrustedSenders) { state.withLock { $0.trusted = senders } }

    /// Judges the event being stored as `seq` at `received` and stores its verdicts, in `db`'s
    /// open transaction (adopting first a judge that has learned, if one waits).
    func judge(_ event: RedactedEvent, seq: Int64, received: Int64, _ db: Database) throws -> [Verdict] {
        // The event is inserted already: the catch-up stops before it.
        if state.withLock({ $0.learned != nil }) { try adoptLearned(db, through: seq - 1) }
        let (verdicts, noteNeeded) = state.withLock { state -> ([Verdict], Bool) in
            guard state.ready else {
                defer { state.pendingNoted = true }
                return ([], !state.pendingNoted)
            }
            guard state.trusted.trusts(event.peer.uid) else { return ([], false) }
            return (state.judge.judge(ActivityEvent(event, seq: seq, received: received)), false)
        }
        // Left to the catch-up: readers must know to wait for it.
        if noteNeeded { try PendingVerdicts.mark(after: seq - 1, db) }
        if !verdicts.isEmpty { try VerdictTable.insert(verdicts, seq: seq, db) }
        return verdicts
    }

    /// Whether a login of `user` from `address` at `time` would be judged `first-seen-source` now
    /// (for the login notice, asked before the login is stored).
    func isFirstSeen(user: String, address: String, at time: Int64) -> Bool {
        state.withLock { $0.ready && $0.judge.isFirstSeen(user: user, address: address, at: time) }
    }

    /// Forgets what the judge learned since the last commit, which the failed transaction did not
    /// store, by learning the history anew up to `head`, what the file holds.
    func transactionFailed(head: Int64) { startLearning(through: head) }
}

extension VerdictJudge {
    /// Teaches the judge the trusted senders' records of `db` up to `through`, in seq order,
    /// without judging them.
    mutating func learn(_ db: Database, through: Int64, trusted: TrustedSenders) throws {
        try replay(db, through: through, trusted: trusted, judging: false) { _, _ in }
    }

    /// Shows the judge the trusted senders' records of `db` after `from` up to `through`, in seq
    /// order, 10,000 at a time (what is read of them is held in memory only for a step), and
    /// hands each with its verdicts to `visit` (none when not `judging`).
    mutating func replay(
        _ db: Database, after from: Int64 = 0, through: Int64, trusted: TrustedSenders, judging: Bool = true,
        visit: (ActivityEvent, [Verdict]) throws -> Void
    ) throws {
        var start = from
        while start < through {
            let end = min(through, start + 10_000)
            for event in try ActivityEvent.read(db, after: start, through: end, trusted: trusted) {
                if judging {
                    try visit(event, judge(event))
                } else {
                    learn(event)
                    try visit(event, [])
                }
            }
            start = end
        }
    }
}

extension AuditStore {
    /// Replays the stored history through the rules with `settings` (`authsignal verdicts`):
    /// every record of a trusted sender is learned, in seq order, and those received in
    /// `[since, until)` that the rules judge are returned, in seq order, each with the verdicts
    /// of the replay (not those stored). Reads one snapshot of the log; stores nothing.
    package func judgedRecords(
        settings: VerdictSettings, trusted: TrustedSenders, since: Date? = nil, until: Date? = nil,
        accountFacts: @escaping @Sendable (String) -> AccountFacts? = LocalAccounts.system.facts(of:)
    ) async throws -> [AuditRecord] {
        try await Self.judgedRecords(
            pool, settings: settings, trusted: trusted, since: since, until: until, accountFacts: accountFacts)
    }

    static func judgedRecords(
        _ pool: DatabasePool, settings: VerdictSettings, trusted: TrustedSenders, since: Date?, until: Date?,
        accountFacts: @escaping @Sendable (String) -> AccountFacts?
    ) async throws -> [AuditRecord] {
        let lower = since.map(Microseconds.from) ?? .min
        let upper = until.map(Microseconds.from) ?? .max
        return try await pool.read { db in
            let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") ?? 0
            var judge = VerdictJudge(settings: settings, accountFacts: accountFacts)
            var judged: [(seq: Int64, verdicts: [Verdict])] = []
            try judge.replay(db, through: head, trusted: trusted) { event, verdicts in
                if !verdicts.isEmpty, event.received >= lower, event.received < upper {
                    judged.append((event.seq, verdicts))
                }
            }
            let statement = try db.cachedStatement(
                sql: "SELECT \(RecordLayout.selectList()) FROM records WHERE seq = ?")
            return try judged.compactMap { seq, verdicts in
                guard let row = try Row.fetchOne(statement, arguments: [seq]) else { return nil }
                var record = try RecordRow.record(from: row)
                record.verdicts = verdicts
                return record
            }
        }
    }
}

extension ReadOnlyAuditLog {
    /// The records that a replay of the file's history with `settings` judges (see
    /// ``AuditStore/judgedRecords(settings:trusted:since:until:accountFacts:)``), judging the
    /// events of this log's ``trusted`` senders.
    package func judgedRecords(settings: VerdictSettings, since: Date? = nil, until: Date? = nil) async throws
        -> [AuditRecord]
    {
        try await AuditStore.judgedRecords(
            pool, settings: settings, trusted: trusted, since: since, until: until,
            accountFacts: LocalAccounts.system.facts(of:))
    }
}
