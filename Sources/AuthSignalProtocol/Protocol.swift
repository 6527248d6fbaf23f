public import Foundation

/// Protocol v1 (docs/protocol.md): one JSON object per line, answered by zero or
/// more `{"record":…}` lines and one final line carrying `"ok"`.
public enum WireProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The default socket path.
    public static let defaultSocketPath = "/run/authsignald/authsignald.sock"
    /// The default `MaxFrameBytes`.
    public static let defaultMaxFrameBytes = 65536
    /// The longest `sender` and `id`, and the longest `user` stored unhashed, in bytes.
    public static let maximumNameBytes = 256
}

/// The error codes of protocol v1.
public enum ErrorCode: String, Sendable, Hashable, CaseIterable {
    /// The line is not one valid JSON value (bad syntax, invalid UTF-8, duplicate keys, too deep).
    case invalidJSON = "invalid_json"
    /// Valid JSON that is not a valid request (unknown op, wrong type, missing field, …).
    case invalidRequest = "invalid_request"
    /// The line is longer than `MaxFrameBytes`; the daemon closes the connection after it.
    case tooLarge = "too_large"
    /// The peer may not perform this op.
    case forbidden
    /// The request cannot be served now (storage failing, shutting down, too many connections);
    /// nothing was stored.
    case unavailable
    /// A bug or unexpected failure in the daemon.
    case `internal`
}

/// A protocol error: a code and a message for people. Messages never quote the request's values.
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error code.
    public let code: ErrorCode
    /// What went wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ message: String) -> ProtocolError { ProtocolError(.invalidRequest, message) }
}

/// A decoded protocol request.
public enum ProtocolRequest: Sendable, Hashable {
    /// Store an auth event.
    case emit(AuthEvent)
    /// Stream stored records, then the count.
    case query(RecordFilter)
    /// Stream records as they commit.
    case follow(RecordFilter)
    /// Counts and health.
    case stats
    /// Verify the hash chain over a seq range.
    case verify(from: Int64?, to: Int64?)
    /// Liveness and version.
    case ping
    /// The keyed hash the redactor stores for `value` (a name or secret to look up) in the events
    /// of root (the PAM hook's), or of the sender `senderUID` (each sender's hashes have their own
    /// key); allowed only to `[Access] HashUsers`/`HashGroups`, rate-limited, and recorded
    /// without the value.
    case hash(value: String, senderUID: UInt32? = nil)
    /// Login sessions (logins paired with their logouts), then the count.
    case sessions(SessionFilter)
    /// Each account's last login, last failure and failures since, then the count.
    case accounts(AccountFilter)
    /// The stored history replayed through the verdict rules with the daemon's settings: each
    /// record received in `[since, until)` that they judge, with its replayed verdicts, then the
    /// count (docs/verdicts.md). Stores nothing.
    case verdicts(since: Date?, until: Date?)
    /// What the login notice shows `user`, logging in from `remoteAddr`, with counts over the last
    /// `periodDays` days (``LoginNotice``).
    case notice(user: String, remoteAddr: String?, periodDays: Int64)

    /// The op's wire name.
    public var op: String {
        switch self {
        case .emit: "emit"
        case .query: "query"
        case .follow: "follow"
        case .stats: "stats"
        case .verify: "verify"
        case .ping: "ping"
        case .hash: "hash"
        case .sessions: "sessions"
        case .accounts: "accounts"
        case .verdicts: "verdicts"
        case .notice: "notice"
        }
    }

    /// Every op of protocol v1.
    public static let ops = [
        "emit", "query", "follow", "stats", "verify", "ping", "hash", "sessions", "accounts", "verdicts", "notice",
    ]

    /// Decodes one frame (without its newline).
    /// - Throws: ``ProtocolError`` with `invalid_json` or `invalid_request`.
    public static func decode(_ frame: some Collection<UInt8>) throws(ProtocolError) -> ProtocolRequest {
        let value: JSONValue
        do {
            value = try JSONParser.parse(frame)
        } catch {
            throw ProtocolError(.invalidJSON, "\(error)")
        }
        guard case .object(let object) = value else {
            throw .invalid("a request must be a JSON object")
        }
        return try decode(object)
    }

    /// Decodes a request object.
    public static func decode(_ object: JSONObject) throws(ProtocolError) -> ProtocolRequest {
        var fields = Fields(object)
        guard let op = try fields.string(RequestField.op) else { throw .invalid("missing field \"op\"") }
        let request: ProtocolRequest
        switch op {
        case "emit": request = .emit(try decodeEmit(&fields))
        case "query": request = .query(try decodeQuery(&fields, allowsLimit: true))
        case "follow": request = .follow(try decodeQuery(&fields, allowsLimit: false))
        case "stats": request = .stats
        case "verify":
            let from = try fields.integer(RequestField.from, minimum: 0)
            let to = try fields.integer(RequestField.to, minimum: 0)
            request = .verify(from: from, to: to)
        case "ping": request = .ping
        case "hash":
            // Any string: what an attacker typed as a user name may be what an admin looks up.
            guard let value = try fields.string(RequestField.value) else { throw .invalid("missing field \"value\"") }
            let uid = try fields.integer(RequestField.senderUID, minimum: 0)
            guard uid.map({ UInt32(exactly: $0) != nil }) ?? true else { throw .invalid("\"sender_uid\" is not a uid") }
            request = .hash(value: value, senderUID: uid.map { UInt32($0) })
        case "sessions": request = .sessions(try decodeSessions(&fields))
        case "accounts":
            request = .accounts(
                AccountFilter(
                    user: try fields.string(RequestField.user),
                    failedOnly: try fields.bool(RequestField.failedOnly) ?? false))
        case "verdicts":
            request = .verdicts(since: try fields.time(RequestField.since), until: try fields.time(RequestField.until))
        case "notice":
            guard let user = try fields.string(RequestField.user) else { throw .invalid("missing field \"user\"") }
            let days = try fields.integer(RequestField.periodDays, minimum: 1) ?? 30
            guard days <= 3660 else { throw .invalid("\"period_days\" must be at most 3660") }
            request = .notice(user: user, remoteAddr: try fields.string(RequestField.remoteAddr), periodDays: days)
        default:
            throw .invalid("unknown op; expected one of \(ops.joined(separator: ", "))")
        }
        try fields.rejectUnknown(op: op)
        return request
    }

    private static func decodeEmit(_ fields: inout Fields) throws(ProtocolError) -> AuthEvent {
        guard let signalName = try fields.string(RequestField.signal) else {
            throw .invalid("missing field \"signal\"")
        }
        guard let signal = AuthSignal(rawValue: signalName) else {
            let emittable = AuthSignal.allCases.filter(\.isEmittable).map(\.rawValue)
            throw .invalid("unknown signal; expected one of \(emittable.joined(separator: ", "))")
        }
        guard signal.isEmittable else {
            throw .invalid("\(signal.rawValue) is recorded by authsignald itself and cannot be sent")
        }
        guard let sender = try fields.name(RequestField.sender) else { throw .invalid("missing field \"sender\"") }
        // Any user name is accepted: an attacker chooses it (an SSH client sends what it likes), and
        // refusing a long or strange one would leave the attempt unrecorded. The redactor hashes
        // or escapes it before it is stored.
        let user = try fields.string(RequestField.user)
        if signal == .userLoggedIn, user?.isEmpty == true { throw .invalid("\"user\" must not be empty") }
        if signal == .userLoggedIn, user == nil {
            throw .invalid("\"user\" is required for user_logged_in")
        }
        let request = try fields.object(RequestField.request)
        let credentials = try fields.object(RequestField.credentials)
        var time: Date?
        if let text = try fields.string(RequestField.time) {
            guard let parsed = RFC3339.parse(text) else {
                throw .invalid("\"time\" must be an RFC 3339 time such as 2026-11-24T19:00:00.123Z")
            }
            time = parsed
        }
        let id = try fields.name(RequestField.id)
        return AuthEvent(
            signal: signal, sender: sender, user: user, request: request, credentials: credentials, time: time,
            id: id)
    }

    private static func decodeSessions(_ fields: inout Fields) throws(ProtocolError) -> SessionFilter {
        var filter = SessionFilter(user: try fields.string(RequestField.user))
        filter.since = try fields.time(RequestField.since)
        filter.until = try fields.time(RequestField.until)
        filter.present = try fields.time(RequestField.present)
        filter.openOnly = try fields.bool(RequestField.open) ?? false
        filter.limit = try fields.integer(RequestField.limit, minimum: 1).map { Int($0) }
        if let order = try fields.string(RequestField.order) {
            guard let parsed = RecordFilter.Order(rawValue: order) else {
                throw .invalid("\"order\" must be \"asc\" or \"desc\"")
            }
            filter.order = parsed
        }
        return filter
    }

    private static func decodeQuery(_ fields: inout Fields, allowsLimit: Bool) throws(ProtocolError) -> RecordFilter {
        var query = RecordFilter()
        query.user = try fields.string(RequestField.user)
        if let name = try fields.string(RequestField.signal) {
            guard let signal = AuthSignal(name: name) else {
                throw .invalid("unknown signal; expected a signal name or login, logout, failed")
            }
            query.signal = signal
        }
        query.sender = try fields.string(RequestField.sender)
        query.remoteAddr = try fields.string(RequestField.remoteAddr)
        if let name = try fields.string(RequestField.verdict) {
            guard let code = VerdictCode(rawValue: name) else {
                let known = VerdictCode.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid("unknown verdict; expected one of \(known)")
            }
            query.verdict = code
        }
        query.since = try fields.time(RequestField.since)
        query.until = try fields.time(RequestField.until)
        query.afterSeq = try fields.integer(RequestField.afterSeq, minimum: 0)
        if allowsLimit, let limit = try fields.integer(RequestField.limit, minimum: 1) {
            query.limit = Int(limit)
        }
        if let order = try fields.string(RequestField.order) {
            switch order {
            case "asc": query.order = .ascending
            case "desc" where allowsLimit: query.order = .descending
            default: throw .invalid(allowsLimit ? "\"order\" must be \"asc\" or \"desc\"" : "follow is always in order")
            }
        }
        return query
    }
}

/// A field's name in a protocol object: a string, or a ``RequestField``.
protocol FieldName {
    /// The name as the wire spells it.
    var fieldName: String { get }
}

extension String: FieldName {
    var fieldName: String { self }
}

/// Every field of every request, named once: the decoder reads them, the encoder writes them, and
/// ``accepted(by:)`` lists them in the error for an unknown one.
public enum RequestField: String, Sendable, CaseIterable, FieldName {
    case op, signal, sender, user, request, credentials, time, id
    case remoteAddr = "remote_addr", since, until
    case afterSeq = "after_seq"
    case limit, order, from, to, value
    case senderUID = "sender_uid"
    case present, open
    case failedOnly = "failed_only"
    case verdict
    case periodDays = "period_days"

    var fieldName: String { rawValue }

    /// The fields each op takes, `op` first.
    static let byOp: [String: [RequestField]] = [
        "emit": [.op, .signal, .sender, .user, .request, .credentials, .time, .id],
        "query": [.op, .user, .signal, .sender, .remoteAddr, .verdict, .since, .until, .afterSeq, .limit, .order],
        "follow": [.op, .user, .signal, .sender, .remoteAddr, .verdict, .since, .until, .afterSeq, .order],
        "stats": [.op],
        "verify": [.op, .from, .to],
        "ping": [.op],
        "hash": [.op, .value, .senderUID],
        "sessions": [.op, .user, .since, .until, .present, .open, .limit, .order],
        "accounts": [.op, .user, .failedOnly],
        "verdicts": [.op, .since, .until],
        "notice": [.op, .user, .remoteAddr, .periodDays],
    ]

    /// The fields `op` takes.
    public static func accepted(by op: String) -> [RequestField] { byOp[op] ?? [.op] }
}

/// A protocol object's fields (a request, a record, an answer), taken one by one so that unknown
/// ones can be reported; each error names the field, never its value.
struct Fields {
    var remaining: JSONObject

    init(_ object: JSONObject) { remaining = object }

    /// A string field; `null` counts as absent.
    mutating func string(_ key: some FieldName) throws(ProtocolError) -> String? {
        switch remaining.removeValue(forKey: key.fieldName) {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw .invalid("\"\(key.fieldName)\" must be a string")
        }
    }

    /// A name-like string: non-empty (unless allowed), at most 256 bytes, no control characters.
    mutating func name(_ key: some FieldName, allowsEmpty: Bool = false) throws(ProtocolError) -> String? {
        guard let text = try string(key) else { return nil }
        if text.isEmpty && !allowsEmpty { throw .invalid("\"\(key.fieldName)\" must not be empty") }
        if text.utf8.count > WireProtocol.maximumNameBytes {
            throw .invalid("\"\(key.fieldName)\" is longer than \(WireProtocol.maximumNameBytes) bytes")
        }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw .invalid("\"\(key.fieldName)\" must not contain control characters")
        }
        return text
    }

    mutating func bool(_ key: some FieldName) throws(ProtocolError) -> Bool? {
        switch remaining.removeValue(forKey: key.fieldName) {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw .invalid("\"\(key.fieldName)\" must be true or false")
        }
    }

    mutating func object(_ key: some FieldName) throws(ProtocolError) -> JSONObject? {
        switch remaining.removeValue(forKey: key.fieldName) {
        case nil, .null?: return nil
        case .object(let members)?: return members
        default: throw .invalid("\"\(key.fieldName)\" must be an object")
        }
    }

    /// A number field, integer or not, of at least 0.
    mutating func nonNegativeNumber(_ key: some FieldName) throws(ProtocolError) -> Double? {
        switch remaining.removeValue(forKey: key.fieldName) {
        case nil, .null?: return nil
        case let value? where (value.numberValue ?? -1) >= 0: return value.numberValue
        default: throw .invalid("\"\(key.fieldName)\" must be a number of at least 0")
        }
    }

    /// An array field.
    mutating func array(_ key: some FieldName) throws(ProtocolError) -> [JSONValue]? {
        switch remaining.removeValue(forKey: key.fieldName) {
        case nil, .null?: return nil
        case .array(let elements)?: return elements
        default: throw .invalid("\"\(key.fieldName)\" must be an array")
        }
    }

    mutating func integer(_ key: some FieldName, minimum: Int64) throws(ProtocolError) -> Int64? {
        switch remaining.removeValue(forKey: key.fieldName) {
        case nil, .null?: return nil
        case .int(let value)? where value >= minimum: return value
        default: throw .invalid("\"\(key.fieldName)\" must be an integer of at least \(minimum)")
        }
    }

    /// `value`, which the field `key` must have had.
    func required<Value>(_ value: Value?, _ key: String) throws(ProtocolError) -> Value {
        guard let value else { throw .invalid("missing field \"\(key)\"") }
        return value
    }

    mutating func time(_ key: some FieldName) throws(ProtocolError) -> Date? {
        guard let text = try string(key) else { return nil }
        guard let date = RFC3339.parse(text) else { throw .invalid("\"\(key.fieldName)\" must be an RFC 3339 time") }
        return date
    }

    /// Refuses leftover fields, naming the fields the op accepts: never the unknown key itself,
    /// which could be a secret typed in the wrong place.
    func rejectUnknown(op: String) throws(ProtocolError) {
        guard !remaining.isEmpty else { return }
        let accepted = RequestField.accepted(by: op).map(\.rawValue).joined(separator: ", ")
        throw .invalid("unknown field for \(op); its fields are \(accepted)")
    }
}

/// Encodes protocol answers: one JSON object per line, keys sorted.
public enum ProtocolResponse {
    /// A final success line with `fields` besides `"ok":true`.
    public static func ok(_ fields: JSONObject = [:]) -> [UInt8] {
        var object = fields
        object["ok"] = .bool(true)
        return line(object)
    }

    /// A final error line.
    public static func error(_ error: ProtocolError) -> [UInt8] {
        line([
            "ok": .bool(false),
            "error": .object(["code": .string(error.code.rawValue), "message": .string(error.message)]),
        ])
    }

    /// The line for an object.
    public static func line(_ object: JSONObject) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        CanonicalJSON.append(.object(object), to: &output)
        output.append(UInt8(ascii: "\n"))
        return output
    }
}
