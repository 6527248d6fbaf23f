package import AuthSignalCore
package import AuthSignalProtocol
import GRDB
import Synchronization

/// The writer's judge: judges each trusted sender's event as the writer stores it, inside the
/// record's transaction, and stores the verdicts with it.
///
/// It learns the log's history when the store opens (a replay of every stored record, as
/// `authsignal verdicts` does). A transaction that fails leaves the judge having learned events
/// that were never stored: it then learns the history anew before it judges again.
final class VerdictKeeper: Sendable {
    private struct State: ~Copyable {
        var judge: VerdictJudge
        var trusted: TrustedSenders
        /// Whether the judge may have learned events a failed transaction did not store.
        var stale = false
    }

    private let settings: VerdictSettings
    private let accountFacts: @Sendable (String) -> AccountFacts?
    private let state: Mutex<State>

    /// A judge that has learned the records of `db` up to `head`.
    init(
        settings: VerdictSettings, trusted: TrustedSenders,
        accountFacts: @escaping @Sendable (String) -> AccountFacts?, learningFrom db: Database, through head: Int64
    ) throws {
        self.settings = settings
        self.accountFacts = accountFacts
        var judge = VerdictJudge(settings: settings, accountFacts: accountFacts)
        try judge.replay(db, through: head, trusted: trusted) { _, _ in }
        state = Mutex(State(judge: judge, trusted: trusted))
    }

    /// Whose events are judged from now on.
    func trust(_ senders: TrustedSenders) { state.withLock { $0.trusted = senders } }

    /// Judges the event being stored as `seq` at `received` and stores its verdicts, in `db`'s
    /// open transaction.
    func judge(_ event: RedactedEvent, seq: Int64, received: Int64, _ db: Database) throws -> [Verdict] {
        let verdicts = try state.withLock { state throws -> [Verdict] in
            guard state.trusted.trusts(event.peer.uid) else { return [] }
            if state.stale {
                var judge = VerdictJudge(settings: settings, accountFacts: accountFacts)
                try judge.replay(db, through: seq - 1, trusted: state.trusted) { _, _ in }
                state.judge = judge
                state.stale = false
            }
            return state.judge.judge(ActivityEvent(event, seq: seq, received: received))
        }
        if !verdicts.isEmpty { try VerdictTable.insert(verdicts, seq: seq, db) }
        return verdicts
    }

    /// Marks what the judge learned since the last commit as never stored.
    func transactionFailed() { state.withLock { $0.stale = true } }
}

extension VerdictJudge {
    /// Shows the judge the trusted senders' records of `db` up to `through`, in seq order, and
    /// hands each with its verdicts to `visit`, a step of records at a time.
    mutating func replay(
        _ db: Database, after from: Int64 = 0, through: Int64, trusted: TrustedSenders, step: Int64 = 100_000,
        visit: (ActivityEvent, [Verdict]) throws -> Void
    ) throws {
        var start = from
        while start < through {
            let end = min(through, start + step)
            for event in try ActivityEvent.read(db, after: start, through: end, trusted: trusted) {
                try visit(event, judge(event))
            }
            start = end
        }
    }
}

extension AuditStore {
    /// Replays the stored history through the rules with `settings` (`authsignal verdicts`):
    /// every record of a trusted sender is learned, in seq order, and the verdicts on those
    /// after `afterSeq` are returned, by seq. Reads one snapshot of the log; stores nothing.
    package func replayVerdicts(
        settings: VerdictSettings, trusted: TrustedSenders, afterSeq: Int64 = 0,
        accountFacts: @escaping @Sendable (String) -> AccountFacts? = AccountFacts.system
    ) async throws -> [(seq: Int64, verdicts: [Verdict])] {
        try await pool.read { db in
            let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") ?? 0
            var judge = VerdictJudge(settings: settings, accountFacts: accountFacts)
            var found: [(seq: Int64, verdicts: [Verdict])] = []
            try judge.replay(db, through: head, trusted: trusted) { event, verdicts in
                if event.seq > afterSeq, !verdicts.isEmpty { found.append((event.seq, verdicts)) }
            }
            return found
        }
    }
}
