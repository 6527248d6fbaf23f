/// The final line of a successful answer, typed by op (docs/protocol.md): the daemon encodes it
/// as `"ok":true` plus ``fields``, and the client decodes those fields back.
public protocol ProtocolAnswer: Sendable {
    /// The fields of the final line besides `"ok"`.
    var fields: JSONObject { get }
    /// Reads the fields of a final line.
    /// - Throws: ``ProtocolError`` (`invalid_json`) when a field is missing or of the wrong type.
    init(fields: JSONObject) throws(ProtocolError)
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
        var reader = Fields(fields)
        self.init(
            seq: try reader.required(try reader.integer("seq", minimum: 0), "seq"),
            duplicate: fields["duplicate"] == .bool(true))
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
        var reader = Fields(fields)
        self.init(count: Int(try reader.required(try reader.integer("count", minimum: 0), "count")))
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
        var reader = Fields(fields)
        self.init(
            protocolVersion: try reader.required(try reader.integer("protocol", minimum: 0), "protocol"),
            pid: try reader.required(try reader.integer("pid", minimum: 0), "pid"),
            daemon: try reader.string("daemon") ?? "")
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
        var reader = Fields(fields)
        var problem: Problem?
        if fields["valid"] != .bool(true) {
            var found = Fields(try reader.required(try reader.object("problem"), "problem"))
            problem = Problem(
                seq: try found.required(try found.integer("seq", minimum: 0), "problem.seq"),
                description: try found.string("description") ?? "unknown")
        }
        self.init(
            checked: Int(try reader.required(try reader.integer("checked", minimum: 0), "checked")),
            first: try reader.integer("first", minimum: 0), last: try reader.integer("last", minimum: 0),
            problem: problem)
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
        var reader = Fields(fields)
        self.init(hash: try reader.required(try reader.string("hash"), "hash"))
    }
}
