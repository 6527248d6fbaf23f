import AuthSignalProtocol
import Foundation
import GRDB

/// The records the writer has not merged into the session and account tables yet, applied by
/// the same rules to an in-memory layer over those tables: readers see every record without
/// writing (a read-only copy of a log included, and a log older than the tables, whose every
/// record is then tail).
struct ActivityTail: Sendable {
    /// Whether the log has the tables (a log older than them is all tail).
    let hasTables: Bool
    /// The tables hold every record up to this seq; the tail is what follows.
    let mark: Int64
    /// Sessions whose login is in the tail.
    let begun: [Int64: SessionRow]
    /// Stored sessions as the tail leaves them.
    let changed: [Int64: SessionRow]
    /// The accounts the tail touches, as it leaves them.
    let accounts: [String: WireAccount]

    /// Reads the tail of the log `db` and applies it.
    static func read(_ db: Database, trusted: TrustedSenders) throws -> ActivityTail {
        let stored = try ActivityBooks.present(db)
        let mark = stored ? try Schema.indexedThrough(db) : 0
        let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM records") ?? 0
        var sessions = SessionOverlay(stored: stored ? StoredSessions(db) : nil)
        var accounts = AccountOverlay(stored: stored ? StoredAccounts(db) : nil)
        for event in try ActivityEvent.read(db, after: mark, through: head, trusted: trusted) {
            try SessionBook.apply(event, to: &sessions)
            try AccountBook.apply(event, to: &accounts)
        }
        return ActivityTail(
            hasTables: stored, mark: mark, begun: sessions.begun, changed: sessions.changed, accounts: accounts.accounts
        )
    }

    /// A stored session as the tail leaves it.
    func revised(_ session: SessionRow) -> SessionRow { changed[session.loginSeq] ?? session }
}

/// Reading sessions and accounts from a log (the daemon's, or a file read-only).
enum ActivityReader {
    /// Calls `each` with the sessions `filter` selects, in its order, on a host in boot `context`;
    /// returns how many. Stored sessions are read page by page; the tail's are held in memory,
    /// applied with `trusted` (the writer's rule for the tables).
    static func sessions(
        _ reader: any DatabaseReader, matching filter: SessionFilter, context: BootContext, trusted: TrustedSenders,
        pageSize: Int = 512, each: (WireSession) async throws -> Void
    ) async throws -> Int {
        let tail = try await reader.read { db in try ActivityTail.read(db, trusted: trusted) }
        var emitter = SessionEmitter(filter: filter, context: context)
        // Filtered before sorting: the tail may hold thousands of sessions, and few match.
        let tailSessions = tail.begun.values.filter { $0.matches(filter, context) }
            .inOrder(filter.order)
        // One account's sessions: its logins through the user index, however long ago.
        if let user = filter.user {
            var sessions = tailSessions.filter { $0.user == user }
            if tail.hasTables {
                sessions += try await reader.read { db in
                    try StoredSessions(db).rows(
                        """
                        SELECT \(SessionRow.layout.selectList(prefix: "s.")) FROM records_by_user k
                        JOIN sessions s ON s.login_seq = k.seq WHERE k.user = ? AND k.seq <= ?
                        """, [user, tail.mark])
                }.map(tail.revised)
            }
            _ = try await emitter.emit(each, sessions.inOrder(filter.order))
            return emitter.count
        }
        let (lower, upper) = filter.window
        // Sessions begun at or before `lower` that lasted beyond it (few), then the ones begun
        // inside the window (paged in order).
        var earlier: [SessionRow] = []
        if let lower {
            if tail.hasTables {
                earlier = try await reader.read { db in
                    try StoredSessions(db).lasting(beyond: lower, through: tail.mark)
                }.map(tail.revised).filter { $0.matches(filter, context) }
            }
            earlier += tailSessions.filter { $0.start <= lower }
            earlier = earlier.inOrder(filter.order)
        }
        if filter.order == .ascending, try await !emitter.emit(each, earlier) { return emitter.count }
        let inside = tailSessions.filter { session in
            lower.map { session.start > $0 } ?? true
        }
        if tail.hasTables {
            var cursor: (start: Int64, seq: Int64)? = nil
            var pending = inside[...]
            while true {
                let after = cursor
                let page = try await reader.read { db in
                    try StoredSessions(db).rows(
                        Self.pageSQL(filter, after: after, pageSize: pageSize),
                        Self.pageArguments(lower: lower, upper: upper, mark: tail.mark, after: after))
                }.map(tail.revised)
                for session in page {
                    let before = pending.prefix { $0.precedes(session, in: filter.order) }
                    pending = pending.dropFirst(before.count)
                    if try await !emitter.emit(each, Array(before) + [session]) { return emitter.count }
                }
                guard page.count == pageSize, let last = page.last else { break }
                cursor = (last.start, last.loginSeq)
            }
            if try await !emitter.emit(each, Array(pending)) { return emitter.count }
        } else if try await !emitter.emit(each, inside) {
            return emitter.count
        }
        if filter.order == .descending { _ = try await emitter.emit(each, earlier) }
        return emitter.count
    }

    /// One page of stored sessions begun inside the window, after `cursor` in the filter's order.
    private static func pageSQL(_ filter: SessionFilter, after cursor: (start: Int64, seq: Int64)?, pageSize: Int)
        -> String
    {
        let ascending = filter.order == .ascending
        let direction = ascending ? "ASC" : "DESC"
        var conditions = ["start > ?", "start < ?", "login_seq <= ?"]
        if cursor != nil { conditions.append("(start, login_seq) \(ascending ? ">" : "<") (?, ?)") }
        return """
            SELECT \(SessionRow.selectList) FROM sessions INDEXED BY sessions_start
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY start \(direction), login_seq \(direction) LIMIT \(pageSize)
            """
    }

    private static func pageArguments(
        lower: Int64?, upper: Int64?, mark: Int64, after cursor: (start: Int64, seq: Int64)?
    ) -> StatementArguments {
        var values: [any DatabaseValueConvertible] = [lower ?? Int64.min, upper ?? Int64.max, mark]
        if let cursor { values += [cursor.start, cursor.seq] }
        return sqlArguments(values)
    }

    /// The accounts `filter` selects, in name order, with the tail applied.
    static func accounts(
        _ reader: any DatabaseReader, matching filter: AccountFilter, trusted: TrustedSenders
    ) async throws -> [WireAccount] {
        try await reader.read { db in
            let tail = try ActivityTail.read(db, trusted: trusted)
            var merged: [String: WireAccount] = [:]
            if tail.hasTables {
                for account in try StoredAccounts(db).all(user: filter.user) { merged[account.user] = account }
            }
            for (user, account) in tail.accounts where filter.user.map({ $0 == user }) ?? true {
                merged[user] = account
            }
            return merged.values.filter { $0.matches(filter) }.sorted { $0.user < $1.user }
        }
    }
}

/// Emits sessions that match, up to the filter's limit.
private struct SessionEmitter {
    let filter: SessionFilter
    let context: BootContext
    var count = 0

    /// Passes the matching ones of `sessions` to `each`; `false` once the limit is reached.
    mutating func emit(_ each: (WireSession) async throws -> Void, _ sessions: [SessionRow]) async throws -> Bool {
        for session in sessions where session.matches(filter, context) {
            if let limit = filter.limit, count >= limit { return false }
            try await each(session.wire(context))
            count += 1
        }
        return filter.limit.map { count < $0 } ?? true
    }
}
