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
    /// What the daemon judged a trusted sender's login to be (docs/verdicts.md); empty for other
    /// records and for logins judged unremarkable. `verdicts` on the wire, absent when empty.
    public var verdicts: [Verdict]

    /// A record with these fields.
    public init(
        seq: Int64, received: Date, time: Date?, signal: AuthSignal, sender: String, user: String?,
        request: JSONObject?, credentials: JSONObject?, peer: PeerCredentials?, hash: Data, host: String? = nil,
        verdicts: [Verdict] = []
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
        self.verdicts = verdicts
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
        Self.appendObject(
            seq: seq, received: received, time: time, signal: signal, sender: sender, user: user,
            request: { Self.append(request, to: &$0) }, credentials: { Self.append(credentials, to: &$0) },
            peer: peer, hash: hash, host: host, verdicts: verdicts, to: &output)
    }

    /// Appends `{"record":{…}}` and a newline for a record whose request and credentials are
    /// already canonical JSON text (`nil` for none), as the audit log stores them: streaming
    /// copies them instead of parsing and encoding them again. The caller vouches that each is
    /// one valid JSON object.
    public static func appendLine(
        seq: Int64, received: Date, time: Date?, signal: AuthSignal, sender: String, user: String?,
        requestJSON: UnsafeBufferPointer<UInt8>?, credentialsJSON: UnsafeBufferPointer<UInt8>?,
        peer: PeerCredentials, hash: some Collection<UInt8>, verdicts: [Verdict] = [], to output: inout [UInt8]
    ) {
        output.append(contentsOf: #"{"record":"#.utf8)
        appendObject(
            seq: seq, received: received, time: time, signal: signal, sender: sender, user: user,
            request: { appendText(requestJSON, to: &$0) }, credentials: { appendText(credentialsJSON, to: &$0) },
            peer: peer, hash: hash, host: nil, verdicts: verdicts, to: &output)
        output.append(contentsOf: "}\n".utf8)
    }

    private static func appendText(_ json: UnsafeBufferPointer<UInt8>?, to output: inout [UInt8]) {
        if let json { output.append(contentsOf: json) } else { output.append(contentsOf: "null".utf8) }
    }

    /// The one layout of a record object; `request` and `credentials` append their values.
    private static func appendObject(
        seq: Int64, received: Date, time: Date?, signal: AuthSignal, sender: String, user: String?,
        request: (inout [UInt8]) -> Void, credentials: (inout [UInt8]) -> Void, peer: PeerCredentials?,
        hash: some Collection<UInt8>, host: String?, verdicts: [Verdict], to output: inout [UInt8]
    ) {
        output.append(contentsOf: #"{"credentials":"#.utf8)
        credentials(&output)
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
        RFC3339.append(received, to: &output)
        output.append(contentsOf: #"","request":"#.utf8)
        request(&output)
        output.append(contentsOf: #","sender":"#.utf8)
        CanonicalJSON.appendString(sender, to: &output)
        output.append(contentsOf: #","seq":"#.utf8)
        output.append(contentsOf: String(seq).utf8)
        output.append(contentsOf: #","signal":""#.utf8)
        output.append(contentsOf: signal.rawValue.utf8)
        output.append(contentsOf: #"","time":"#.utf8)
        if let time {
            output.append(UInt8(ascii: "\""))
            RFC3339.append(time, to: &output)
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
        if !verdicts.isEmpty {
            output.append(contentsOf: #","verdicts":"#.utf8)
            Verdict.appendArray(verdicts, to: &output)
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
    /// - Throws: ``ProtocolError`` naming the first field that is missing or of the wrong type.
    public init(_ object: JSONObject) throws(ProtocolError) {
        var fields = Fields(object)
        let signalName = try fields.required(try fields.string("signal"), "signal")
        guard let signal = AuthSignal(rawValue: signalName) else { throw .invalid("unknown signal") }
        let hashText = try fields.required(try fields.string("hash"), "hash")
        guard let hash = Hex.decode(hashText) else { throw .invalid("\"hash\" must be hexadecimal") }
        var peer: PeerCredentials?
        if let peerObject = try fields.object("peer") {
            var ids = Fields(peerObject)
            guard let uid = UInt32(exactly: try ids.required(try ids.integer("uid", minimum: 0), "peer.uid")),
                let gid = UInt32(exactly: try ids.required(try ids.integer("gid", minimum: 0), "peer.gid")),
                let pid = Int32(exactly: try ids.required(try ids.integer("pid", minimum: 0), "peer.pid"))
            else { throw .invalid("\"peer\" holds an id out of range") }
            peer = PeerCredentials(uid: uid, gid: gid, pid: pid)
        }
        self.init(
            seq: try fields.required(try fields.integer("seq", minimum: 0), "seq"),
            received: try fields.required(try fields.time("received"), "received"), time: try fields.time("time"),
            signal: signal, sender: try fields.required(try fields.string("sender"), "sender"),
            user: try fields.string("user"), request: try fields.object("request"),
            credentials: try fields.object("credentials"), peer: peer, hash: Data(hash),
            host: try fields.string("host"),
            verdicts: try Verdict.array(object["verdicts"])
        )
    }
}

/// What an answer streams before its final line: records, sessions or accounts, each on a line
/// of its own as `{"KEY":{…}}`.
public protocol WireItem: Sendable {
    /// The key of its lines: `record`, `session` or `account`.
    static var lineKey: String { get }
    /// Reads one from its object.
    init(_ object: JSONObject) throws(ProtocolError)
    /// The host it is of, when read from journals of many hosts; `nil` from an audit log.
    var host: String? { get }
}

extension WireRecord: WireItem {
    /// `record`.
    public static let lineKey = "record"
}

extension WireSession: WireItem {
    /// `session`.
    public static let lineKey = "session"
}

extension WireAccount: WireItem {
    /// `account`.
    public static let lineKey = "account"
}
