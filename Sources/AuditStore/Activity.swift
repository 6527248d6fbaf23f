import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDB

/// A login, logout or failed login as the session and account books read it from its record.
struct ActivityEvent {
    let seq: Int64
    let signal: AuthSignal
    /// The event's own time, else when it was stored (µs); never later than
    /// ``maximumLead`` after it was stored, so that no sender's clock can put an event after
    /// every one still to come (docs/sessions.md, "Ordering").
    let at: Int64
    let sender: String
    let user: String?
    let remoteAddr: String?
    let service: String?
    let tty: String?
    /// `request.pairing`, when it is a string.
    let key: String?
    /// The sending process's uid (SO_PEERCRED, or a spooled file's owner).
    let peerUID: Int64
    /// When the daemon stored it (µs).
    let received: Int64
    /// The host whose log holds it, when read from a fleet's collected journals.
    var host: String? = nil

    /// Whether `authsignal import` sent it (from wtmp or btmp): history that teaches the
    /// verdicts but gets none of its own.
    var imported: Bool { sender.hasPrefix(AuditRecord.importedSenderPrefix) }

    /// How far an event's own time may lie after the moment the daemon stored it: a clock a
    /// little ahead is taken as it is; beyond this the stored moment stands in for it.
    static let maximumLead: Int64 = 300 * 1_000_000

    /// The records after `from` up to `through` that a trusted sender sent, in seq order. Others
    /// are recorded, but neither begin, end nor count towards anything here.
    static func read(
        _ db: Database, after from: Int64, through: Int64, trusted: TrustedSenders
    ) throws -> [ActivityEvent] {
        let text = { (key: String) in
            "CASE json_type(request, '$.\(key)') WHEN 'text' THEN json_extract(request, '$.\(key)') END"
        }
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT seq, signal,
                    CASE WHEN time > received + \(maximumLead) THEN received ELSE coalesce(time, received) END,
                    sender, user, remote_addr, \(text("service")), \(text("tty")), \(text("pairing")), peer_uid, received
                FROM records WHERE seq > ? AND seq <= ? ORDER BY seq
                """, arguments: [from, through])
        var events: [ActivityEvent] = []
        while let row = try rows.next() {
            let peerUID: Int64 = row[9]
            guard let signal = AuthSignal(rawValue: row[1]), let uid = UInt32(exactly: peerUID), trusted.trusts(uid)
            else { continue }
            events.append(
                ActivityEvent(
                    seq: row[0], signal: signal, at: row[2], sender: row[3], user: row[4], remoteAddr: row[5],
                    service: row[6], tty: row[7], key: row[8], peerUID: peerUID, received: row[10]))
        }
        return events
    }
}

/// The derived tables behind `last` and `lastlog`, kept by the writer's bulk merge together with
/// the user and address indexes (so records after `indexed_through` are not in them yet; readers
/// lay those over the tables, see ``ActivityTail``).
enum ActivityBooks {
    static let schema = """
        -- One row per login: its logout once paired (docs/sessions.md). Derived from the records,
        -- outside the hash chain; rebuilt by the migration from the records themselves.
        CREATE TABLE sessions (
            login_seq INTEGER PRIMARY KEY,
            pairing TEXT NOT NULL,
            keyed INTEGER NOT NULL,
            boot TEXT,
            start INTEGER NOT NULL,
            end INTEGER,
            logout_seq INTEGER,
            gone_by INTEGER,
            user TEXT,
            remote_addr TEXT,
            service TEXT,
            tty TEXT,
            sender TEXT NOT NULL,
            peer_uid INTEGER NOT NULL
        );
        CREATE INDEX sessions_start ON sessions(start, login_seq);
        CREATE INDEX sessions_unended ON sessions(pairing, login_seq) WHERE logout_seq IS NULL;
        -- Each session's interval in seconds (open ones to 1e38), for "who was logged in at T"
        -- without reading every session that began before T.
        CREATE VIRTUAL TABLE sessions_span USING rtree(login_seq, first, last);
        -- The boots seen in pairing keys, and when each was first seen.
        CREATE TABLE session_boots (boot TEXT PRIMARY KEY, first_seen INTEGER NOT NULL) WITHOUT ROWID;
        -- Per account (as stored): the last login and failure, and failures since that login.
        -- Only trusted senders' events are in these tables (docs/sessions.md).
        CREATE TABLE account_activity (
            user TEXT PRIMARY KEY,
            login_seq INTEGER, login_at INTEGER, login_from TEXT, login_service TEXT,
            failure_seq INTEGER, failure_at INTEGER, failure_from TEXT, failure_service TEXT,
            failures_since_login INTEGER NOT NULL,
            failures INTEGER NOT NULL
        ) WITHOUT ROWID;
        """

    /// Adds the records after `from` up to `through` to the sessions and accounts, `step`
    /// records at a time (so memory stays bounded however many there are), calling `progress`
    /// with the seq reached after each step but the last.
    static func merge(
        _ db: Database, after from: Int64, through: Int64, trusted: TrustedSenders, step: Int64 = 100_000,
        progress: ((Int64) -> Void)? = nil
    ) throws {
        var start = from
        while start < through {
            let end = min(through, start + step)
            // Applied in memory first, then written once: a login and its logout in the same
            // step cost one insert, and each account one write however many of its events.
            var sessions = SessionOverlay(stored: StoredSessions(db))
            var accounts = AccountOverlay(stored: StoredAccounts(db))
            for event in try ActivityEvent.read(db, after: start, through: end, trusted: trusted) {
                try SessionBook.apply(event, to: &sessions)
                try AccountBook.apply(event, to: &accounts)
            }
            try sessions.write()
            try accounts.write()
            start = end
            if start < through { progress?(start) }
        }
    }

    /// The tables' names, for a rebuild.
    static let tables = ["sessions", "sessions_span", "session_boots", "account_activity"]

    /// Whether the log `db` has the tables as this version keeps them (a log of an older version
    /// read without migrating has none, or ones built without the trust rule).
    static func present(_ db: Database) throws -> Bool {
        try db.tableExists("sessions") && db.columns(in: "sessions").contains { $0.name == "peer_uid" }
    }

    /// Forgets the sessions begun and accounts' events in a pruned seq range. An account whose
    /// last login or failure was pruned keeps its counts but loses that event's details.
    static func prune(_ db: Database, from first: Int64, through last: Int64) throws {
        for statement in [
            "DELETE FROM sessions WHERE login_seq BETWEEN ?1 AND ?2",
            "DELETE FROM sessions_span WHERE login_seq BETWEEN ?1 AND ?2",
            """
            UPDATE account_activity SET login_seq = NULL, login_at = NULL, login_from = NULL,
                login_service = NULL WHERE login_seq BETWEEN ?1 AND ?2
            """,
            """
            UPDATE account_activity SET failure_seq = NULL, failure_at = NULL, failure_from = NULL,
                failure_service = NULL WHERE failure_seq BETWEEN ?1 AND ?2
            """,
        ] {
            try db.execute(sql: statement, arguments: [first, last])
        }
    }
}

extension ActivityEvent {
    /// The event of a record the writer is storing as `seq` at `received`, as ``read(_:after:through:trusted:)``
    /// would read it back.
    init(_ event: RedactedEvent, seq: Int64, received: Int64) {
        self.init(
            seq: seq, signal: event.signal, time: event.time, received: received, sender: event.sender,
            user: event.user, remoteAddr: event.remoteAddr, request: event.request, peerUID: Int64(event.peer.uid))
    }

    /// The event of a record read back from a journal entry (``HostActivity``).
    init(_ record: WireRecord, peerUID: Int64) {
        self.init(
            seq: record.seq, signal: record.signal, time: record.time, received: Microseconds.from(record.received),
            sender: record.sender, user: record.user, remoteAddr: record.remoteAddr, request: record.request,
            peerUID: peerUID)
        host = record.host
    }

    /// The event of a record with these values, its time believed as the tables believe it.
    private init(
        seq: Int64, signal: AuthSignal, time: Date?, received: Int64, sender: String, user: String?,
        remoteAddr: String?, request: JSONObject?, peerUID: Int64
    ) {
        let text = { (key: String) -> String? in request?[key]?.stringValue }
        let time = time.map(Microseconds.from) ?? received
        self.init(
            seq: seq, signal: signal, at: time > received + Self.maximumLead ? received : time, sender: sender,
            user: user, remoteAddr: remoteAddr, service: text("service"), tty: text("tty"), key: text("pairing"),
            peerUID: peerUID, received: received)
    }
}
