/// `stats`: the audit log's totals, and the daemon's counters when a daemon answers (an audit
/// log file read without one has only the first part). docs/protocol.md lists the fields.
public struct StatsAnswer: ProtocolAnswer, Hashable {
    /// What the audit log holds.
    public struct Log: Sendable, Hashable {
        /// Records per signal.
        public var records: [AuthSignal: Int]
        /// The oldest record's seq.
        public var firstSeq: Int64?
        /// The newest record's seq.
        public var lastSeq: Int64?
        /// The database file and its write-ahead log, in bytes.
        public var databaseBytes: Int64
        /// The chain head: the newest record's seq (0 for an empty log) and hash.
        public var headSeq: Int64
        /// The chain head's hash.
        public var headHash: [UInt8]
        /// The log's identity (`nil` for a log written before identities existed).
        public var logID: String?

        /// The totals of a log.
        public init(
            records: [AuthSignal: Int], firstSeq: Int64?, lastSeq: Int64?, databaseBytes: Int64, headSeq: Int64,
            headHash: [UInt8], logID: String?
        ) {
            self.records = records
            self.firstSeq = firstSeq
            self.lastSeq = lastSeq
            self.databaseBytes = databaseBytes
            self.headSeq = headSeq
            self.headHash = headHash
            self.logID = logID
        }
    }

    /// What the running daemon counts.
    public struct Service: Sendable, Hashable {
        /// Transactions the writer committed since start (group commit puts many events in one).
        public var committedTransactions: Int
        /// Open connections.
        public var connections: Int
        /// Open follows.
        public var followers: Int
        /// Seconds since start.
        public var uptimeSeconds: Int64
        /// `[Redaction] Mode`.
        public var redactionMode: String
        /// Requests answered with an error since start, by code.
        public var refused: [ErrorCode: Int]
        /// The PAM hook's spool.
        public var spool: Spool
        /// The journal sink's counters; `nil` while `[Journal] Enabled=no`.
        public var journal: Journal?

        /// The daemon's counters.
        public init(
            committedTransactions: Int, connections: Int, followers: Int, uptimeSeconds: Int64, redactionMode: String,
            refused: [ErrorCode: Int], spool: Spool, journal: Journal?
        ) {
            self.committedTransactions = committedTransactions
            self.connections = connections
            self.followers = followers
            self.uptimeSeconds = uptimeSeconds
            self.redactionMode = redactionMode
            self.refused = refused
            self.spool = spool
            self.journal = journal
        }
    }

    /// What the spool drainer has done.
    public struct Spool: Sendable, Hashable {
        /// The spool directory (`nil` when unusable).
        public var directory: String?
        /// Spooled events stored.
        public var stored: Int
        /// Spooled events refused (moved to `refused/`).
        public var refused: Int
        /// Spooled events waiting.
        public var pending: Int

        /// Spool counters.
        public init(directory: String?, stored: Int, refused: Int, pending: Int) {
            self.directory = directory
            self.stored = stored
            self.refused = refused
            self.pending = pending
        }
    }

    /// The journal sink's counters.
    public struct Journal: Sendable, Hashable {
        /// Entries written.
        public var sent: Int
        /// Entries dropped because the queue was full.
        public var dropped: Int
        /// Entries journald refused.
        public var failed: Int
        /// Entries waiting.
        public var queued: Int
        /// Chain anchors written.
        public var anchors: Int
        /// Chain anchors journald refused.
        public var anchorFailures: Int

        /// Journal counters.
        public init(sent: Int, dropped: Int, failed: Int, queued: Int, anchors: Int, anchorFailures: Int) {
            self.sent = sent
            self.dropped = dropped
            self.failed = failed
            self.queued = queued
            self.anchors = anchors
            self.anchorFailures = anchorFailures
        }
    }

    /// The audit log's part.
    public var log: Log
    /// The daemon's part; `nil` for an audit log file read without a daemon.
    public var service: Service?

    /// An answer.
    public init(log: Log, service: Service?) {
        self.log = log
        self.service = service
    }

    /// The log's `records`, `first_seq`, `last_seq`, `database_bytes`, `chain_head` and `log_id`; from
    /// a daemon also its counters, `refused` by code, `spool` and `journal`.
    public var fields: JSONObject {
        var records: JSONObject = ["total": .int(Int64(log.records.values.reduce(0, +)))]
        for signal in AuthSignal.allCases { records[signal.rawValue] = .int(Int64(log.records[signal] ?? 0)) }
        var fields: JSONObject = [
            "records": .object(records),
            "first_seq": log.firstSeq.map(JSONValue.int) ?? .null,
            "last_seq": log.lastSeq.map(JSONValue.int) ?? .null,
            "database_bytes": .int(log.databaseBytes),
            "chain_head": .object(["seq": .int(log.headSeq), "hash": .string(Hex.encode(log.headHash))]),
            "log_id": log.logID.map(JSONValue.string) ?? .null,
        ]
        guard let service else { return fields }
        fields["committed_transactions"] = .int(Int64(service.committedTransactions))
        fields["connections"] = .int(Int64(service.connections))
        fields["followers"] = .int(Int64(service.followers))
        fields["uptime_seconds"] = .int(service.uptimeSeconds)
        fields["redaction_mode"] = .string(service.redactionMode)
        fields["refused"] = .object(
            JSONObject(
                uniqueKeysWithValues: ErrorCode.allCases.map { ($0.rawValue, .int(Int64(service.refused[$0] ?? 0))) }))
        let spool = service.spool
        fields["spool"] = .object([
            "directory": spool.directory.map(JSONValue.string) ?? .null, "stored": .int(Int64(spool.stored)),
            "refused": .int(Int64(spool.refused)), "pending": .int(Int64(spool.pending)),
        ])
        if let journal = service.journal {
            fields["journal"] = .object([
                "enabled": .bool(true), "sent": .int(Int64(journal.sent)), "dropped": .int(Int64(journal.dropped)),
                "failed": .int(Int64(journal.failed)), "queued": .int(Int64(journal.queued)),
                "anchors": .int(Int64(journal.anchors)), "anchor_failures": .int(Int64(journal.anchorFailures)),
            ])
        } else {
            fields["journal"] = .object(["enabled": .bool(false)])
        }
        return fields
    }

    /// Reads the log's part, and the daemon's when `uptime_seconds` says a daemon answered.
    public init(fields: JSONObject) throws(ProtocolError) {
        let reader = AnswerFields(fields)
        let records = try reader.object("records")
        var perSignal: [AuthSignal: Int] = [:]
        for signal in AuthSignal.allCases { perSignal[signal] = Int(records[signal.rawValue]?.intValue ?? 0) }
        let head = try reader.object("chain_head")
        guard case .int(let headSeq)? = head["seq"], let headHash = head["hash"]?.stringValue.flatMap(Hex.decode)
        else { throw malformedAnswer("chain_head") }
        let log = Log(
            records: perSignal, firstSeq: fields["first_seq"]?.intValue, lastSeq: fields["last_seq"]?.intValue,
            databaseBytes: try reader.integer("database_bytes"), headSeq: headSeq, headHash: headHash,
            logID: fields["log_id"]?.stringValue)
        guard fields["uptime_seconds"] != nil else {
            self.init(log: log, service: nil)
            return
        }
        let refusedObject = try reader.object("refused")
        var refused: [ErrorCode: Int] = [:]
        for code in ErrorCode.allCases { refused[code] = Int(refusedObject[code.rawValue]?.intValue ?? 0) }
        let spoolFields = AnswerFields(try reader.object("spool"))
        let spool = Spool(
            directory: spoolFields.fields["directory"]?.stringValue, stored: Int(try spoolFields.integer("stored")),
            refused: Int(try spoolFields.integer("refused")), pending: Int(try spoolFields.integer("pending")))
        let journalFields = AnswerFields(try reader.object("journal"))
        var journal: Journal?
        if journalFields.fields["enabled"] == .bool(true) {
            journal = Journal(
                sent: Int(try journalFields.integer("sent")), dropped: Int(try journalFields.integer("dropped")),
                failed: Int(try journalFields.integer("failed")), queued: Int(try journalFields.integer("queued")),
                anchors: Int(try journalFields.integer("anchors")),
                anchorFailures: Int(try journalFields.integer("anchor_failures")))
        }
        let service = Service(
            committedTransactions: Int(try reader.integer("committed_transactions")),
            connections: Int(try reader.integer("connections")), followers: Int(try reader.integer("followers")),
            uptimeSeconds: try reader.integer("uptime_seconds"),
            redactionMode: fields["redaction_mode"]?.stringValue ?? "", refused: refused, spool: spool,
            journal: journal)
        self.init(log: log, service: service)
    }
}

/// Reads an answer's fields, naming the one that is missing or of the wrong type.
struct AnswerFields {
    let fields: JSONObject

    init(_ fields: JSONObject) { self.fields = fields }

    func integer(_ key: String) throws(ProtocolError) -> Int64 {
        guard case .int(let value)? = fields[key] else { throw malformedAnswer(key) }
        return value
    }

    func object(_ key: String) throws(ProtocolError) -> JSONObject {
        guard case .object(let value)? = fields[key] else { throw malformedAnswer(key) }
        return value
    }
}
