package import AuthSignalProtocol

/// A record read back from a host's journal entry for the activity books.
package struct JournalActivityEntry: Sendable {
    /// The record.
    package var record: WireRecord
    /// What its daemon judged of the sender (`AUTHSIGNAL_TRUSTED`): each host has its own
    /// `TrustedUsers`, which a reader elsewhere cannot know.
    package var trusted: Bool
    /// The audit log it belongs to (`AUTHSIGNAL_LOG_ID`; `nil` in entries of older daemons).
    package var log: String?

    /// An entry with these values.
    package init(record: WireRecord, trusted: Bool, log: String?) {
        self.record = record
        self.trusted = trusted
        self.log = log
    }
}

/// One host's sessions and accounts, built in memory from its records as its daemon wrote them
/// to the journal, by the rules the writer's merge applies to a log's tables (docs/sessions.md):
/// for `last`, `who` and `lastlog` over journals, where there are no tables to read.
package struct HostActivity {
    /// The host's name, given to every session and account it answers.
    package let host: String?
    private var sessions = SessionOverlay(stored: nil)
    private var accounts = AccountOverlay(stored: nil)
    private var logs = LogGenerations()

    /// An empty book for `host`.
    package init(host: String?) { self.host = host }

    /// Applies the next record of the host's logs. An untrusted sender's record, or one without
    /// its peer, counts towards nothing, as in a log's tables.
    package mutating func apply(_ entry: JournalActivityEntry) {
        var record = entry.record
        record.seq = logs.key(record.seq, log: entry.log)
        do {
            try ActivityBooks.apply(record, trusted: entry.trusted, to: &sessions, &accounts)
        } catch {
            // The books throw only when they read stored tables, and these have none.
            preconditionFailure("in-memory activity books failed: \(error)")
        }
    }

    /// The sessions `filter` selects, its limit aside, in its order, on a host in boot `context`.
    package func sessions(matching filter: SessionFilter, context: BootContext) -> [WireSession] {
        sessions.begun.values.filter { $0.matches(filter, context) }.inOrder(filter.order).map {
            LogGenerations.answer($0.wire(context), host: host)
        }
    }

    /// The accounts `filter` selects, in name order.
    package func accounts(matching filter: AccountFilter) -> [WireAccount] {
        accounts.accounts.values.filter { $0.matches(filter) }.sorted { $0.user < $1.user }.map {
            LogGenerations.answer($0, host: host)
        }
    }
}

/// A host's audit logs, numbered in the order their records first came. The books key sessions
/// and accounts' events by seq, and a host whose log was made anew (reinstalled) numbers from 1
/// again: each log's seqs are kept apart as `generation << 40 | seq`. Entries without a log id
/// (older daemons) are generation 0.
struct LogGenerations {
    /// The bits of a key that are the seq.
    static let seqBits: Int64 = 40
    private(set) var numbers: [String: Int64] = [:]

    init(numbers: [String: Int64] = [:]) { self.numbers = numbers }

    /// The key of `seq` of `log`, numbering `log` if it is new.
    mutating func key(_ seq: Int64, log: String?) -> Int64 {
        guard let log else { return seq }
        let number = numbers[log] ?? Int64(numbers.count + 1)
        numbers[log] = number
        return number << Self.seqBits | seq
    }

    /// The seq a key stands for.
    static func seq(_ key: Int64) -> Int64 { key & ((1 << seqBits) - 1) }

    /// A session as answered: its seqs those of its log, on `host`.
    static func answer(_ keyed: WireSession, host: String?) -> WireSession {
        var session = keyed
        session.loginSeq = seq(keyed.loginSeq)
        session.logoutSeq = keyed.logoutSeq.map(seq)
        session.host = host
        return session
    }

    /// An account as answered: its events' seqs those of their logs, on `host`.
    static func answer(_ keyed: WireAccount, host: String?) -> WireAccount {
        var account = keyed
        account.lastLogin?.seq = seq(keyed.lastLogin?.seq ?? 0)
        account.lastFailure?.seq = seq(keyed.lastFailure?.seq ?? 0)
        account.host = host
        return account
    }
}

extension ActivityBooks {
    /// Applies a record read back from a journal to both books, when `trusted` (its daemon's
    /// judgement of the sender) and its peer is known; other records count towards nothing.
    static func apply(
        _ record: WireRecord, trusted: Bool, to sessions: inout SessionOverlay, _ accounts: inout AccountOverlay
    ) throws {
        guard trusted, let peer = record.peer else { return }
        let event = ActivityEvent(record, peerUID: Int64(peer.uid))
        try SessionBook.apply(event, to: &sessions)
        try AccountBook.apply(event, to: &accounts)
    }
}
