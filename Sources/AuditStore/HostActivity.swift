package import AuthSignalProtocol

/// One host's sessions and accounts, built in memory from its records as its daemon wrote them
/// to the journal, by the rules the writer's merge applies to a log's tables (docs/sessions.md):
/// for `last`, `who` and `lastlog` over journals, where there are no tables to read.
package struct HostActivity {
    /// The host's name, given to every session and account it answers.
    package let host: String?
    private var sessions = SessionOverlay(stored: nil)
    private var accounts = AccountOverlay(stored: nil)

    /// An empty book for `host`.
    package init(host: String?) { self.host = host }

    /// Applies the next record of the host's log. `trusted` is what its daemon judged of the
    /// sender (`AUTHSIGNAL_TRUSTED`): each host has its own `TrustedUsers`, which a reader
    /// elsewhere cannot know. An untrusted sender's record, or one without its peer, counts
    /// towards nothing, as in the tables.
    package mutating func apply(_ record: WireRecord, trusted: Bool) {
        do {
            try ActivityBooks.apply(record, trusted: trusted, to: &sessions, &accounts)
        } catch {
            // The books throw only when they read stored tables, and these have none.
            preconditionFailure("in-memory activity books failed: \(error)")
        }
    }

    /// The sessions `filter` selects, its limit aside, in its order, on a host in boot `context`.
    package func sessions(matching filter: SessionFilter, context: BootContext) -> [WireSession] {
        sessions.begun.values.filter { $0.matches(filter, context) }.inOrder(filter.order).map { row in
            var session = row.wire(context)
            session.host = host
            return session
        }
    }

    /// The accounts `filter` selects, in name order.
    package func accounts(matching filter: AccountFilter) -> [WireAccount] {
        accounts.accounts.values.filter { $0.matches(filter) }.sorted { $0.user < $1.user }.map { found in
            var account = found
            account.host = host
            return account
        }
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
