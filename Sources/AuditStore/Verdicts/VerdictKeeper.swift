package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation
import GRDB
import Synchronization

/// The writer's judge: judges each trusted sender's event as the writer stores it, inside the
/// record's transaction, and stores the verdicts with it.
///
/// It learns the log's history by replaying every stored record, as `authsignal verdicts` does,
/// on the writer's queue: the store opens at once, and the first commit waits behind the replay
/// (about a second on a million records; docs/verdicts.md). A transaction that fails leaves the
/// judge having learned events that were never stored: it then learns the history anew before it
/// judges again.
final class VerdictKeeper: Sendable {
    private struct State: ~Copyable {
        var judge: VerdictJudge
        var trusted: TrustedSenders
        /// Whether the judge has yet to learn the stored history, or may have learned events a
        /// failed transaction did not store.
        var stale = true
    }

    private let settings: VerdictSettings
    private let accountFacts: @Sendable (String) -> AccountFacts?
    private let state: Mutex<State>

    /// A judge that has learned nothing yet: ``learn(_:)`` or the first ``judge(_:seq:received:_:)``
    /// teaches it the history.
    init(
        settings: VerdictSettings, trusted: TrustedSenders,
        accountFacts: @escaping @Sendable (String) -> AccountFacts?
    ) {
        self.settings = settings
        self.accountFacts = accountFacts
        state = Mutex(State(judge: VerdictJudge(settings: settings, accountFacts: accountFacts), trusted: trusted))
    }

    /// Learns every record `reader` holds, unless the judge is up to date. Runs on the writer's
    /// queue, so no commit comes between the read and the judge taking what it learned.
    func learn(_ reader: any DatabaseReader) throws {
        guard state.withLock({ $0.stale }) else { return }
        let trusted = state.withLock { $0.trusted }
        var judge = VerdictJudge(settings: settings, accountFacts: accountFacts)
        try reader.read { db in
            let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") ?? 0
            try judge.replay(db, through: head, trusted: trusted) { _, _ in }
        }
        state.withLock { state in
            state.judge = judge
            state.stale = false
        }
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

    /// Whether a login of `user` from `address` at `time` would be judged `first-seen-source` now
    /// (for the login notice, asked before the login is stored).
    func isFirstSeen(user: String, address: String, at time: Int64) -> Bool {
        state.withLock { !$0.stale && $0.judge.isFirstSeen(user: user, address: address, at: time) }
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
    /// every record of a trusted sender is learned, in seq order, and those received in
    /// `[since, until)` that the rules judge are returned, in seq order, each with the verdicts
    /// of the replay (not those stored). Reads one snapshot of the log; stores nothing.
    package func judgedRecords(
        settings: VerdictSettings, trusted: TrustedSenders, since: Date? = nil, until: Date? = nil,
        accountFacts: @escaping @Sendable (String) -> AccountFacts? = AccountFacts.system
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
            pool, settings: settings, trusted: trusted, since: since, until: until, accountFacts: AccountFacts.system)
    }
}
