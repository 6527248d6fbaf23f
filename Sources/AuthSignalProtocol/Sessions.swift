public import Foundation

/// Which login sessions `sessions` (`authsignal last`) returns; every filter set must match.
///
/// A session is the interval from its login to its logout (or, for one that is gone, to the
/// latest time it can have lasted; for one still logged in, to now and beyond).
public struct SessionFilter: Sendable, Hashable {
    /// Only this account's sessions.
    public var user: String?
    /// Only sessions still in progress at or after this time (begun earlier ones included).
    public var since: Date?
    /// Only sessions begun before this time.
    public var until: Date?
    /// Only sessions in progress at this instant (`last --present`).
    public var present: Date?
    /// Only sessions still logged in now.
    public var openOnly: Bool
    /// At most this many sessions.
    public var limit: Int?
    /// By login time: newest first (the default, as last(1)) or oldest first.
    public var order: RecordFilter.Order

    /// A filter; with no arguments it selects every session, newest first.
    public init(
        user: String? = nil, since: Date? = nil, until: Date? = nil, present: Date? = nil, openOnly: Bool = false,
        limit: Int? = nil, order: RecordFilter.Order = .descending
    ) {
        self.user = user
        self.since = since
        self.until = until
        self.present = present
        self.openOnly = openOnly
        self.limit = limit
        self.order = order
    }

    /// The interval a session must overlap, in microseconds since the epoch: it must begin before
    /// `upper` and last beyond `lower`.
    public var window: (lower: Int64?, upper: Int64?) {
        var lower = since.map(Microseconds.from)
        var upper = until.map(Microseconds.from)
        if let present = present.map(Microseconds.from) {
            lower = max(lower ?? present, present)
            upper = min(upper ?? present + 1, present + 1)
        }
        return (lower, upper)
    }
}

/// Where a session stands.
public enum SessionStatus: String, Sendable, Hashable, CaseIterable {
    /// Its logout is in the log.
    case ended
    /// No logout, and the host has not rebooted since its login.
    case stillLoggedIn = "still_logged_in"
    /// No logout, but the host rebooted since its login (or the audit log lost track): it ended
    /// at the latest by `ended_by`.
    case gone
}

/// How a session's logout was matched to its login (docs/sessions.md).
public enum SessionPairing: String, Sendable, Hashable, CaseIterable {
    /// Both events carried the same `request.pairing` key (the PAM hook, `authsignal import`).
    case key
    /// Neither carried a key: matched by sender, user, tty and address, the latest open login.
    case fallback
}

/// One login session as the protocol carries it: the value of a `{"session":…}` line.
public struct WireSession: Sendable, Hashable {
    /// The login record's seq.
    public var loginSeq: Int64
    /// The logout record's seq, when it is in the log.
    public var logoutSeq: Int64?
    /// The account (keyed-hashed as the log stores it).
    public var user: String?
    /// The remote address (`request.remote_addr`).
    public var from: String?
    /// The PAM service (`request.service`).
    public var service: String?
    /// The terminal (`request.tty`).
    public var tty: String?
    /// Who reported the login.
    public var sender: String
    /// When it began (the event's own time, else when it was stored).
    public var start: Date
    /// When it ended: the logout's time.
    public var end: Date?
    /// For a gone session, the latest time it can have lasted until (the host's next boot as the
    /// log saw it), when known.
    public var endedBy: Date?
    /// Ended, still logged in, or gone.
    public var status: SessionStatus
    /// How its logout was matched to its login.
    public var pairing: SessionPairing
    /// The host it was on, for sessions read from journals (many hosts'); `nil` for an audit log's.
    /// `host` on the wire, absent when `nil`.
    public var host: String?

    /// A session with these fields.
    public init(
        loginSeq: Int64, logoutSeq: Int64?, user: String?, from: String?, service: String?, tty: String?,
        sender: String, start: Date, end: Date?, endedBy: Date?, status: SessionStatus, pairing: SessionPairing,
        host: String? = nil
    ) {
        self.loginSeq = loginSeq
        self.logoutSeq = logoutSeq
        self.user = user
        self.from = from
        self.service = service
        self.tty = tty
        self.sender = sender
        self.start = start
        self.end = end
        self.endedBy = endedBy
        self.status = status
        self.pairing = pairing
        self.host = host
    }

    /// How long it lasted, for an ended session.
    public var duration: TimeInterval? { end.map { $0.timeIntervalSince(start) } }

    /// The session's JSON object (docs/protocol.md).
    public var object: JSONObject {
        var object: JSONObject = [
            "login_seq": .int(loginSeq), "logout_seq": logoutSeq.map(JSONValue.int) ?? .null,
            "user": user.map(JSONValue.string) ?? .null, "from": from.map(JSONValue.string) ?? .null,
            "service": service.map(JSONValue.string) ?? .null, "tty": tty.map(JSONValue.string) ?? .null,
            "sender": .string(sender), "start": .string(RFC3339.format(start)),
            "end": end.map { .string(RFC3339.format($0)) } ?? .null,
            "ended_by": endedBy.map { .string(RFC3339.format($0)) } ?? .null,
            "duration_seconds": duration.map { .double(($0 * 1_000_000).rounded() / 1_000_000) } ?? .null,
            "status": .string(status.rawValue), "pairing": .string(pairing.rawValue),
        ]
        if let host { object["host"] = .string(host) }
        return object
    }

    /// `{"session":{…}}` and a newline.
    public var line: [UInt8] { ProtocolResponse.line(["session": .object(object)]) }

    /// Reads a session object.
    /// - Throws: ``ProtocolError`` naming the field that is missing or of the wrong type.
    public init(_ object: JSONObject) throws(ProtocolError) {
        var fields = Fields(object)
        func time(_ key: String) throws(ProtocolError) -> Date? { try fields.time(key) }
        let status = try fields.required(try fields.string("status"), "status")
        let pairing = try fields.required(try fields.string("pairing"), "pairing")
        guard let status = SessionStatus(rawValue: status), let pairing = SessionPairing(rawValue: pairing) else {
            throw .invalid("\"status\" or \"pairing\" has an unknown value")
        }
        self.init(
            loginSeq: try fields.required(try fields.integer("login_seq", minimum: 0), "login_seq"),
            logoutSeq: try fields.integer("logout_seq", minimum: 0), user: try fields.string("user"),
            from: try fields.string("from"), service: try fields.string("service"), tty: try fields.string("tty"),
            sender: try fields.required(try fields.string("sender"), "sender"),
            start: try fields.required(try time("start"), "start"), end: try time("end"),
            endedBy: try time("ended_by"), status: status, pairing: pairing, host: try fields.string("host"))
    }
}

/// The boot the host is in, which decides whether a session without a logout is still logged in
/// or gone.
public struct BootContext: Sendable, Hashable {
    /// The kernel's boot id (as the PAM hook puts it in pairing keys).
    public var bootID: String?
    /// When the host booted, in microseconds since the epoch.
    public var bootTime: Int64?

    /// A context with these values.
    public init(bootID: String?, bootTime: Int64?) {
        self.bootID = bootID
        self.bootTime = bootTime
    }

    /// This host's boot: `/proc/sys/kernel/random/boot_id` and `btime` of `/proc/stat`.
    public static func current() -> BootContext {
        let id = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let stat = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        let btime = stat.split(separator: "\n").first { $0.hasPrefix("btime ") }
            .flatMap { Int64($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) }
        return BootContext(bootID: id?.isEmpty == false ? id : nil, bootTime: btime.map { $0 * 1_000_000 })
    }
}

/// Microseconds since the epoch, the unit the audit log stores times in.
public enum Microseconds {
    /// `date` in microseconds, rounded down.
    public static func from(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
    }

    /// The date `value` microseconds after the epoch.
    public static func date(_ value: Int64) -> Date {
        Date(timeIntervalSince1970: Double(value) / 1_000_000)
    }
}
