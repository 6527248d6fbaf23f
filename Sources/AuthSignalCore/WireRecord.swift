public import Foundation

/// An audit record as the protocol carries it: the value of a `{"record":…}` line
/// (docs/protocol.md). The daemon writes it, the CLI reads it, and records read from an audit log
/// file or from journals take the same form; those read from journals also name their `host`.
public struct WireRecord: Sendable, Hashable {
    /// The record's seq in its host's audit log.
    public var seq: Int64
    /// When the daemon stored it (microsecond resolution on the wire).
    public var received: Date
    /// When it happened at the source, if the source said.
    public var time: Date?
    /// The auth signal.
    public var signal: AuthSignal
    /// Who reported it.
    public var sender: String
    /// The account (keyed-hashed for unknown accounts of failed logins).
    public var user: String?
    /// The request, redacted.
    public var request: JSONObject?
    /// The credentials, redacted.
    public var credentials: JSONObject?
    /// Who sent it, as the kernel reported; `nil` only in a journal entry that lacks the fields
    /// (`"peer":null` on the wire).
    public var peer: PeerCredentials?
    /// The record's chain hash.
    public var hash: Data
    /// The host whose journal held it (`_HOSTNAME`); `nil` for records read from an audit log.
    public var host: String?

    /// A record with these fields.
    public init(
        seq: Int64, received: Date, time: Date?, signal: AuthSignal, sender: String, user: String?,
        request: JSONObject?, credentials: JSONObject?, peer: PeerCredentials?, hash: Data, host: String? = nil
    ) {
        self.seq = seq
        self.received = received
        self.time = time
        self.signal = signal
        self.sender = sender
        self.user = user
        self.request = request
        self.credentials = credentials
        self.peer = peer
        self.hash = hash
        self.host = host
    }

    /// `request.remote_addr`, when it is a string.
    public var remoteAddr: String? { request?["remote_addr"]?.stringValue }
}

extension WireRecord {
    /// Appends `{"record":{…}}` and a newline.
    public func appendLine(to output: inout [UInt8]) {
        output.append(contentsOf: #"{"record":"#.utf8)
        appendObject(to: &output)
        output.append(contentsOf: "}\n".utf8)
    }

    /// Appends the record's JSON object, keys sorted, written directly (streaming hundreds of
    /// thousands of records is a measured path).
    public func appendObject(to output: inout [UInt8]) {
        output.append(contentsOf: #"{"credentials":"#.utf8)
        Self.append(credentials, to: &output)
        output.append(contentsOf: #","hash":""#.utf8)
        Hex.append(hash, to: &output)
        output.append(UInt8(ascii: "\""))
        if let host {
            output.append(contentsOf: #","host":"#.utf8)
            CanonicalJSON.appendString(host, to: &output)
        }
        if let peer {
            output.append(contentsOf: #","peer":{"gid":"#.utf8)
            output.append(contentsOf: String(peer.gid).utf8)
            output.append(contentsOf: #","pid":"#.utf8)
            output.append(contentsOf: String(peer.pid).utf8)
            output.append(contentsOf: #","uid":"#.utf8)
            output.append(contentsOf: String(peer.uid).utf8)
            output.append(UInt8(ascii: "}"))
        } else {
            output.append(contentsOf: #","peer":null"#.utf8)
        }
        output.append(contentsOf: #","received":""#.utf8)
        output.append(contentsOf: RFC3339.format(received).utf8)
        output.append(contentsOf: #"","request":"#.utf8)
        Self.append(request, to: &output)
        output.append(contentsOf: #","sender":"#.utf8)
        CanonicalJSON.appendString(sender, to: &output)
        output.append(contentsOf: #","seq":"#.utf8)
        output.append(contentsOf: String(seq).utf8)
        output.append(contentsOf: #","signal":""#.utf8)
        output.append(contentsOf: signal.rawValue.utf8)
        output.append(contentsOf: #"","time":"#.utf8)
        if let time {
            output.append(UInt8(ascii: "\""))
            output.append(contentsOf: RFC3339.format(time).utf8)
            output.append(UInt8(ascii: "\""))
        } else {
            output.append(contentsOf: "null".utf8)
        }
        output.append(contentsOf: #","user":"#.utf8)
        if let user {
            CanonicalJSON.appendString(user, to: &output)
        } else {
            output.append(contentsOf: "null".utf8)
        }
        output.append(UInt8(ascii: "}"))
    }

    private static func append(_ object: JSONObject?, to output: inout [UInt8]) {
        if let object {
            CanonicalJSON.append(.object(object), to: &output)
        } else {
            output.append(contentsOf: "null".utf8)
        }
    }

    /// The record a `{"record":…}` line carries (its value, `object`).
    /// - Throws: ``ProtocolError`` (`invalid_json`) naming the first field that is missing or
    ///   of the wrong type.
    public init(_ object: JSONObject) throws(ProtocolError) {
        func bad(_ field: String) -> ProtocolError {
            ProtocolError(.invalidJSON, "record field \"\(field)\" is invalid")
        }
        func integer(_ value: JSONValue?, _ field: String) throws(ProtocolError) -> Int64 {
            guard case .int(let number)? = value else { throw bad(field) }
            return number
        }
        func optionalObject(_ field: String) throws(ProtocolError) -> JSONObject? {
            switch object[field] {
            case .object(let members)?: return members
            case .null?, nil: return nil
            default: throw bad(field)
            }
        }
        func optionalString(_ field: String) throws(ProtocolError) -> String? {
            switch object[field] {
            case .string(let text)?: return text
            case .null?, nil: return nil
            default: throw bad(field)
            }
        }
        guard let received = object["received"]?.stringValue.flatMap(RFC3339.parse) else { throw bad("received") }
        guard let signal = object["signal"]?.stringValue.flatMap(AuthSignal.init(rawValue:)) else {
            throw bad("signal")
        }
        guard let sender = object["sender"]?.stringValue else { throw bad("sender") }
        var peer: PeerCredentials?
        switch object["peer"] {
        case .object(let fields)?:
            guard let uid = UInt32(exactly: try integer(fields["uid"], "peer.uid")),
                let gid = UInt32(exactly: try integer(fields["gid"], "peer.gid")),
                let pid = Int32(exactly: try integer(fields["pid"], "peer.pid"))
            else { throw bad("peer") }
            peer = PeerCredentials(uid: uid, gid: gid, pid: pid)
        case .null?:
            peer = nil
        default:
            throw bad("peer")
        }
        guard let hash = object["hash"]?.stringValue.flatMap(Hex.decode).map({ Data($0) }) else { throw bad("hash") }
        var time: Date?
        if let text = try optionalString("time") {
            guard let parsed = RFC3339.parse(text) else { throw bad("time") }
            time = parsed
        }
        self.init(
            seq: try integer(object["seq"], "seq"), received: received, time: time, signal: signal, sender: sender,
            user: try optionalString("user"), request: try optionalObject("request"),
            credentials: try optionalObject("credentials"), peer: peer,
            hash: hash, host: try optionalString("host"))
    }
}
