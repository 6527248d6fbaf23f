import AuthSignalProtocol
import Foundation
import GRDB

/// One login session as the `sessions` table keeps it; its columns are declared once, in
/// ``layout``.
struct SessionRow: Sendable, TableRow {
    var loginSeq: Int64 = 0
    /// The key its logout must carry: `request.pairing`, or the fallback key.
    var pairing = ""
    var keyed = false
    /// The boot named by a pairing key (its part before the first `/`).
    var boot: String?
    var start: Int64 = 0
    var end: Int64?
    var logoutSeq: Int64?
    /// When a later boot was first seen, for a session with no logout from an earlier one.
    var goneBy: Int64?
    var user: String?
    var remoteAddr: String?
    var service: String?
    var tty: String?
    var sender = ""
    /// The uid that sent the login: only it, or root, may end the session.
    var peerUID: Int64 = 0

    /// The `sessions` table's columns, in table order.
    static let layout = TableLayout<SessionRow>(
        table: "sessions",
        columns: [
            TableColumn("login_seq", .integer(\.loginSeq)),
            TableColumn("pairing", .text(\.pairing)),
            TableColumn("keyed", .flag(\.keyed)),
            TableColumn("boot", .optionalText(\.boot)),
            TableColumn("start", .integer(\.start)),
            TableColumn("end", .optionalInteger(\.end)),
            TableColumn("logout_seq", .optionalInteger(\.logoutSeq)),
            TableColumn("gone_by", .optionalInteger(\.goneBy)),
            TableColumn("user", .optionalText(\.user)),
            TableColumn("remote_addr", .optionalText(\.remoteAddr)),
            TableColumn("service", .optionalText(\.service)),
            TableColumn("tty", .optionalText(\.tty)),
            TableColumn("sender", .text(\.sender)),
            TableColumn("peer_uid", .integer(\.peerUID)),
        ])

    /// The select list without a table alias.
    static let selectList = layout.selectList()

    init() {}

    /// The session a login with this pairing `identity` begins.
    init(login event: ActivityEvent, identity: (pairing: String, keyed: Bool, boot: String?)) {
        loginSeq = event.seq
        pairing = identity.pairing
        keyed = identity.keyed
        boot = identity.boot
        start = event.at
        user = event.user
        remoteAddr = event.remoteAddr
        service = event.service
        tty = event.tty
        sender = event.sender
        peerUID = event.peerUID
    }

    /// The latest it can have lasted until, as far as the log knows (µs), for the interval index.
    var storedBound: Int64? { (end ?? goneBy).map { max($0, start) } }

    /// The longest a session may last and still be found by its start alone (µs): "present at T"
    /// reads such sessions from the start index, those begun in the hour before T.
    static let shortSpan: Int64 = 3_600_000_000

    /// Whether it ended by a logout within ``shortSpan`` of its start. Short sessions, most of
    /// them, are kept out of the interval index: an R*Tree row costs more to write than the
    /// session itself, and the start index finds them as well.
    var isShort: Bool { end.map { $0 - start <= Self.shortSpan } ?? false }

    /// ``isShort`` as an SQL condition on a `sessions` row, for the queries and the migration
    /// that must agree with it.
    static let isShortSQL = "(end IS NOT NULL AND end - start <= \(shortSpan))"

    /// Its status on a host in boot `context`, and the latest time it lasted until (`nil`: open,
    /// or gone at an unknown time).
    func standing(_ context: BootContext) -> (status: SessionStatus, bound: Int64?) {
        if let end { return (.ended, end) }
        if let goneBy { return (.gone, goneBy) }
        if let boot, let current = context.bootID, boot != current {
            return (.gone, context.bootTime.map { max($0, start) })
        }
        if let bootTime = context.bootTime, start < bootTime { return (.gone, bootTime) }
        return (.stillLoggedIn, nil)
    }

    /// Whether `filter` selects it, on a host in boot `context`.
    func matches(_ filter: SessionFilter, _ context: BootContext) -> Bool {
        if let user = filter.user, self.user != user { return false }
        let (status, bound) = standing(context)
        if filter.openOnly && status != .stillLoggedIn { return false }
        let (lower, upper) = filter.window
        if let upper, start >= upper { return false }
        if let lower, let bound, bound <= lower { return false }
        return true
    }

    /// The protocol's form, on a host in boot `context`.
    func wire(_ context: BootContext) -> WireSession {
        let (status, bound) = standing(context)
        return WireSession(
            loginSeq: loginSeq, logoutSeq: logoutSeq, user: user, from: remoteAddr, service: service, tty: tty,
            sender: sender, start: Microseconds.date(start), end: end.map(Microseconds.date),
            endedBy: status == .gone ? bound.map(Microseconds.date) : nil, status: status,
            pairing: keyed ? .key : .fallback)
    }

    /// Where it sorts: by start, then by login seq.
    var sortKey: (start: Int64, seq: Int64) { (start, loginSeq) }

    /// Whether it comes before `other` in `order`.
    func precedes(_ other: SessionRow, in order: RecordFilter.Order) -> Bool {
        order == .ascending ? sortKey < other.sortKey : sortKey > other.sortKey
    }
}

/// The pairing rule (docs/sessions.md).
enum SessionBook {
    /// The pairing key of a login or logout: `request.pairing` when the event has one (the PAM
    /// hook's `BOOT/PID/SERVICE/TTY`, or one `import` made), else a fallback of sender, user, tty
    /// and address that a key can never equal.
    static func identity(of event: ActivityEvent) -> (pairing: String, keyed: Bool, boot: String?) {
        if let key = event.key, !key.isEmpty {
            return (key, true, String(key.utf8.prefix { $0 != UInt8(ascii: "/") })!)
        }
        let parts = [event.sender, event.user ?? "", event.tty ?? "", event.remoteAddr ?? ""]
        return ("\u{1}" + parts.joined(separator: "\u{1}"), false, nil)
    }

    /// Applies one event: a login begins a session; a logout ends the latest open session with
    /// its key, when it comes from the login's sender or root (a logout whose login is not in
    /// the log begins nothing, and one from another sender ends nothing); the first event of a
    /// boot marks the open keyed sessions of other boots gone.
    static func apply(_ event: ActivityEvent, to ledger: inout SessionOverlay) throws {
        // Logins and logouts only: a password, account or lifecycle record neither begins nor ends one.
        guard event.signal == .userLoggedIn || event.signal == .userLoggedOut else { return }
        let identity = identity(of: event)
        if let boot = identity.boot, try ledger.firstSight(of: boot, at: event.at) {
            for var session in try ledger.unendedOfOtherBoots(than: boot, begunBy: event.at) {
                session.goneBy = event.at
                ledger.update(session)
            }
        }
        if event.signal == .userLoggedIn {
            ledger.begin(SessionRow(login: event, identity: identity))
        } else if var session = try ledger.unended(pairing: identity.pairing),
            event.peerUID == 0 || event.peerUID == session.peerUID
        {
            session.end = event.at
            session.logoutSeq = event.seq
            session.goneBy = nil
            ledger.update(session)
        }
    }
}

extension [SessionRow] {
    /// The sessions sorted by login time in `order`. Sorted through their keys: a session holds
    /// seven strings, and moving it about in a sort costs a reference count change for each.
    func inOrder(_ order: RecordFilter.Order) -> [SessionRow] {
        let keys = map(\.sortKey)
        return indices.sorted { order == .ascending ? keys[$0] < keys[$1] : keys[$0] > keys[$1] }.map { self[$0] }
    }
}

/// The `sessions` tables: written by the merge, read by everyone.
struct StoredSessions {
    let db: Database

    init(_ db: Database) { self.db = db }

    /// Seconds for the interval index; open sessions reach 1e38.
    static func seconds(_ microseconds: Int64?) -> Double {
        microseconds.map { Double($0) / 1_000_000 } ?? 1e38
    }

    /// The sessions `sql` selects (with ``SessionRow/layout``'s select list), read straight from
    /// SQLite's buffers.
    func rows(_ sql: String, _ arguments: StatementArguments) throws -> [SessionRow] {
        var sessions: [SessionRow] = []
        try DirectStatement(db, sql).each(arguments: arguments) { sessions.append(SessionRow.layout.row($0)) }
        return sessions
    }

    private static let lastingLongSQL = """
        SELECT \(SessionRow.layout.selectList(prefix: "s."))
        FROM sessions_span x JOIN sessions s ON s.login_seq = x.login_seq
        WHERE x.first <= ?1 AND x.last >= ?1 AND s.start <= ?2 AND s.login_seq <= ?3
            AND coalesce(s.end, s.gone_by, 9223372036854775807) > ?2
        """

    private static let lastingShortSQL = """
        SELECT \(SessionRow.selectList) FROM sessions INDEXED BY sessions_start
        WHERE start > ?1 - \(SessionRow.shortSpan) AND start <= ?1 AND login_seq <= ?2 AND end > ?1
            AND \(SessionRow.isShortSQL)
        """

    /// The sessions with a login seq up to `mark` begun by `instant` (µs) that lasted beyond it:
    /// the open, gone and long ones through the interval index, the short ones through the start
    /// index (begun within ``SessionRow/shortSpan`` before `instant`). A log not migrated to
    /// `v7-short-sessions` (read-only) has short ones in both; each is returned once.
    func lasting(beyond instant: Int64, through mark: Int64) throws -> [SessionRow] {
        let long = try rows(Self.lastingLongSQL, [Self.seconds(instant), instant, mark])
        let short = try rows(Self.lastingShortSQL, [instant, mark])
        var seen = Set<Int64>()
        return (long + short).filter { seen.insert($0.loginSeq).inserted }
    }

    private static let unendedSQL =
        "SELECT \(SessionRow.selectList) FROM sessions WHERE pairing = ? AND logout_seq IS NULL ORDER BY login_seq DESC"

    /// Every session with this key and no logout, latest first.
    func unendedAll(pairing: String) throws -> [SessionRow] {
        try rows(Self.unendedSQL, [pairing])
    }

    private static let insertSQL = SessionRow.layout.insertSQL()

    /// Stores a new session, in the interval index too unless it is short.
    func begin(_ session: SessionRow) throws {
        try DirectStatement(db, Self.insertSQL).run(values: SessionRow.layout.values(of: session))
        if session.isShort { return }
        try DirectStatement(db, "INSERT INTO sessions_span (login_seq, first, last) VALUES (?, ?, ?)").run(
            .integer(session.loginSeq), .real(Self.seconds(session.start)), .real(Self.seconds(session.storedBound)))
    }

    /// Stores a stored session's end or gone mark. It was open or gone, so in the interval index;
    /// it leaves it if its logout makes it short.
    func update(_ session: SessionRow) throws {
        try DirectStatement(db, "UPDATE sessions SET end = ?, logout_seq = ?, gone_by = ? WHERE login_seq = ?").run(
            .integer(session.end), .integer(session.logoutSeq), .integer(session.goneBy), .integer(session.loginSeq))
        if session.isShort {
            try DirectStatement(db, "DELETE FROM sessions_span WHERE login_seq = ?").run(.integer(session.loginSeq))
        } else {
            try DirectStatement(db, "UPDATE sessions_span SET last = ? WHERE login_seq = ?").run(
                .real(Self.seconds(session.storedBound)), .integer(session.loginSeq))
        }
    }

    func knows(boot: String) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM session_boots WHERE boot = ?"), arguments: [boot]) ?? false
    }

    func remember(boot: String, firstSeen time: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO session_boots (boot, first_seen) VALUES (?, ?)")
            .execute(arguments: [boot, time])
    }

    private static let unendedOfOtherBootsSQL = """
        SELECT \(SessionRow.selectList) FROM sessions INDEXED BY sessions_unended
        WHERE logout_seq IS NULL AND gone_by IS NULL AND boot IS NOT NULL AND boot <> ? AND start <= ?
        """

    func unendedOfOtherBoots(than boot: String, begunBy time: Int64) throws -> [SessionRow] {
        try rows(Self.unendedOfOtherBootsSQL, [boot, time])
    }
}

/// Sessions as a run of events leaves them, over the stored ones: the sessions the events begin,
/// the stored ones they end or mark gone, and the boots they show first. The writer's merge
/// writes it back (``write()``); readers lay it over the tables.
struct SessionOverlay {
    /// Where stored sessions are looked up; `nil` for a log without the tables.
    var stored: StoredSessions?
    /// Sessions whose login is among the events.
    private(set) var begun: [Int64: SessionRow] = [:]
    /// Stored sessions as the events leave them.
    private(set) var changed: [Int64: SessionRow] = [:]
    /// Boots first seen among the events, and when.
    private(set) var boots: [String: Int64] = [:]
    /// The begun sessions without a logout, by pairing key, oldest first.
    private var unendedBegun: [String: [Int64]] = [:]
    /// Boots the tables already knew, as far as they were asked about.
    private var storedBoots: Set<String> = []

    init(stored: StoredSessions?) { self.stored = stored }

    /// A stored session as the events leave it.
    func revised(_ session: SessionRow) -> SessionRow { changed[session.loginSeq] ?? session }

    /// The latest session with this pairing key and no logout (gone ones included: a logout
    /// spooled before a reboot may arrive after it).
    func unended(pairing: String) throws -> SessionRow? {
        if let seq = unendedBegun[pairing]?.last { return begun[seq] }
        return try stored?.unendedAll(pairing: pairing).map(revised).first { $0.logoutSeq == nil }
    }

    /// Adds a session.
    mutating func begin(_ session: SessionRow) {
        begun[session.loginSeq] = session
        unendedBegun[session.pairing, default: []].append(session.loginSeq)
    }

    /// Keeps a session's new end, logout or gone mark.
    mutating func update(_ session: SessionRow) {
        guard begun[session.loginSeq] != nil else {
            changed[session.loginSeq] = session
            return
        }
        begun[session.loginSeq] = session
        if session.logoutSeq != nil { unendedBegun[session.pairing]?.removeAll { $0 == session.loginSeq } }
    }

    /// Remembers `boot`; whether it had not been seen before. Every keyed event asks, so the
    /// stored boots are looked up once each.
    mutating func firstSight(of boot: String, at time: Int64) throws -> Bool {
        if boots[boot] != nil || storedBoots.contains(boot) { return false }
        if try stored?.knows(boot: boot) ?? false {
            storedBoots.insert(boot)
            return false
        }
        boots[boot] = time
        return true
    }

    /// Keyed sessions of boots other than `boot`, begun by `time`, with no logout and not yet
    /// marked gone.
    func unendedOfOtherBoots(than boot: String, begunBy time: Int64) throws -> [SessionRow] {
        let candidates =
            unendedBegun.values.flatMap { $0 }.compactMap { begun[$0] }
            + (try stored?.unendedOfOtherBoots(than: boot, begunBy: time) ?? []).map(revised)
        return candidates.filter {
            $0.logoutSeq == nil && $0.goneBy == nil && $0.boot != nil && $0.boot != boot && $0.start <= time
        }
    }

    /// Writes the sessions begun, the changes and the boots into the tables.
    func write() throws {
        guard let stored else { return }
        for session in begun.values.sorted(by: { $0.loginSeq < $1.loginSeq }) { try stored.begin(session) }
        for session in changed.values { try stored.update(session) }
        for (boot, time) in boots { try stored.remember(boot: boot, firstSeen: time) }
    }
}
