/// The final line of a successful answer, typed by op (docs/protocol.md): the daemon encodes it
/// as `"ok":true` plus ``fields``, and the client decodes those fields back.
public protocol ProtocolAnswer: Sendable {
    /// The fields of the final line besides `"ok"`.
    var fields: JSONObject { get }
    /// Reads the fields of a final line.
    /// - Throws: ``ProtocolError`` (`invalid_json`) when a field is missing or of the wrong type.
    init(fields: JSONObject) throws(ProtocolError)
}

/// A `"ok":true` line that does not carry the fields it should.
func malformedAnswer(_ field: String) -> ProtocolError {
    ProtocolError(.invalidJSON, "the answer's \"\(field)\" is missing or invalid")
}

/// `emit`: the record's seq, and whether the idempotency key had been seen (nothing new stored).
public struct EmitAnswer: ProtocolAnswer, Hashable {
    /// The record's seq (the original one for a duplicate).
    public var seq: Int64
    /// Whether the event had been stored before under the same `id`.
    public var duplicate: Bool

    /// An acknowledgement.
    public init(seq: Int64, duplicate: Bool) {
        self.seq = seq
        self.duplicate = duplicate
    }

    /// `seq`, and `"duplicate":true` when nothing new was stored.
    public var fields: JSONObject {
        duplicate ? ["seq": .int(seq), "duplicate": .bool(true)] : ["seq": .int(seq)]
    }

    /// Reads `seq` and `duplicate`.
    public init(fields: JSONObject) throws(ProtocolError) {
        guard case .int(let seq)? = fields["seq"] else { throw malformedAnswer("seq") }
        self.init(seq: seq, duplicate: fields["duplicate"] == .bool(true))
    }
}

/// `query` and `follow`: how many records were sent.
public struct CountAnswer: ProtocolAnswer, Hashable {
    /// Records sent before this line.
    public var count: Int

    /// A count.
    public init(count: Int) { self.count = count }

    /// `count`.
    public var fields: JSONObject { ["count": .int(Int64(count))] }

    /// Reads `count`.
    public init(fields: JSONObject) throws(ProtocolError) {
        guard case .int(let count)? = fields["count"] else { throw malformedAnswer("count") }
        self.init(count: Int(count))
    }
}

/// `ping`: who answers.
public struct PingAnswer: ProtocolAnswer, Hashable {
    /// The protocol version the daemon speaks.
    public var protocolVersion: Int64
    /// The daemon's process id.
    public var pid: Int64
    /// The daemon's name, `authsignald`.
    public var daemon: String

    /// A ping answer.
    public init(protocolVersion: Int64, pid: Int64, daemon: String) {
        self.protocolVersion = protocolVersion
        self.pid = pid
        self.daemon = daemon
    }

    /// `protocol`, `pid` and `daemon`.
    public var fields: JSONObject {
        ["protocol": .int(protocolVersion), "pid": .int(pid), "daemon": .string(daemon)]
    }

    /// Reads `protocol`, `pid` and `daemon`.
    public init(fields: JSONObject) throws(ProtocolError) {
        guard case .int(let version)? = fields["protocol"] else { throw malformedAnswer("protocol") }
        guard case .int(let pid)? = fields["pid"] else { throw malformedAnswer("pid") }
        self.init(protocolVersion: version, pid: pid, daemon: fields["daemon"]?.stringValue ?? "")
    }
}

/// `verify`: the chain walk's verdict.
public struct VerifyAnswer: ProtocolAnswer, Hashable {
    /// The first bad place of the chain.
    public struct Problem: Sendable, Hashable {
        /// The first bad seq.
        public var seq: Int64
        /// What is wrong there, for people.
        public var description: String

        /// A problem at `seq`.
        public init(seq: Int64, description: String) {
            self.seq = seq
            self.description = description
        }
    }

    /// Records whose hash and link were checked.
    public var checked: Int
    /// The first and last seq checked.
    public var first: Int64?
    /// The last seq checked.
    public var last: Int64?
    /// The first problem; `nil` when the chain verified.
    public var problem: Problem?

    /// Whether the chain verified.
    public var valid: Bool { problem == nil }

    /// A verdict.
    public init(checked: Int, first: Int64?, last: Int64?, problem: Problem?) {
        self.checked = checked
        self.first = first
        self.last = last
        self.problem = problem
    }

    /// `valid`, `checked`, `first`, `last`, and `problem` (`seq`, `description`) when invalid.
    public var fields: JSONObject {
        var fields: JSONObject = [
            "valid": .bool(valid), "checked": .int(Int64(checked)),
            "first": first.map(JSONValue.int) ?? .null, "last": last.map(JSONValue.int) ?? .null,
        ]
        if let problem {
            fields["problem"] = .object(["seq": .int(problem.seq), "description": .string(problem.description)])
        }
        return fields
    }

    /// Reads the verdict; a `problem` is required unless `valid` is true.
    public init(fields: JSONObject) throws(ProtocolError) {
        guard case .int(let checked)? = fields["checked"] else { throw malformedAnswer("checked") }
        var problem: Problem?
        if fields["valid"] != .bool(true) {
            guard case .object(let found)? = fields["problem"], case .int(let seq)? = found["seq"] else {
                throw malformedAnswer("problem")
            }
            problem = Problem(seq: seq, description: found["description"]?.stringValue ?? "unknown")
        }
        self.init(
            checked: Int(checked), first: fields["first"]?.intValue, last: fields["last"]?.intValue, problem: problem)
    }
}

/// `hash`: the keyed hash the daemon stores for the value sent.
public struct HashAnswer: ProtocolAnswer, Hashable {
    /// `hmac-sha256:<hex>`.
    public var hash: String

    /// An answer.
    public init(hash: String) { self.hash = hash }

    /// `hash`.
    public var fields: JSONObject { ["hash": .string(hash)] }

    /// Reads `hash`.
    public init(fields: JSONObject) throws(ProtocolError) {
        guard let hash = fields["hash"]?.stringValue else { throw malformedAnswer("hash") }
        self.init(hash: hash)
    }
}
