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
        /// How long those transactions took, fsync included.
        public var commitLatency: LatencyHistogram
        /// Records stored since start, per signal (duplicates not counted; retention never
        /// lowers it, unlike the log's own ``Log/records``).
        public var stored: [AuthSignal: Int]
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
        /// The senders it trusts now: root and `[Access] TrustedUsers` (docs/protocol.md).
        public var trusted: TrustedSenders
        /// The daemon's own log lines journald could not take at once (stopped, frozen or slow),
        /// dropped rather than waited for.
        public var logLinesDropped: Int

        /// The daemon's counters.
        public init(
            committedTransactions: Int, commitLatency: LatencyHistogram, stored: [AuthSignal: Int], connections: Int,
            followers: Int, uptimeSeconds: Int64, redactionMode: String, refused: [ErrorCode: Int], spool: Spool,
            journal: Journal?, trusted: TrustedSenders, logLinesDropped: Int
        ) {
            self.committedTransactions = committedTransactions
            self.commitLatency = commitLatency
            self.stored = stored
            self.connections = connections
            self.followers = followers
            self.uptimeSeconds = uptimeSeconds
            self.redactionMode = redactionMode
            self.refused = refused
            self.spool = spool
            self.journal = journal
            self.trusted = trusted
            self.logLinesDropped = logLinesDropped
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
        /// Records the journal can never get (pruned from the log before it caught up).
        public var dropped: Int
        /// Attempts journald refused; each record is tried again.
        public var failed: Int
        /// Entries waiting in the queue.
        public var queued: Int
        /// Chain anchors written.
        public var anchors: Int
        /// Chain anchors journald refused.
        public var anchorFailures: Int
        /// Records committed that the journal has not got yet.
        public var lag: Int
        /// Entries sent from the audit log while catching up.
        public var fromLog: Int

        /// Journal counters.
        public init(
            sent: Int, dropped: Int, failed: Int, queued: Int, anchors: Int, anchorFailures: Int, lag: Int = 0,
            fromLog: Int = 0
        ) {
            self.sent = sent
            self.dropped = dropped
            self.failed = failed
            self.queued = queued
            self.anchors = anchors
            self.anchorFailures = anchorFailures
            self.lag = lag
            self.fromLog = fromLog
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
        fields["stored"] = .object(
            JSONObject(
                uniqueKeysWithValues: AuthSignal.allCases.map { ($0.rawValue, .int(Int64(service.stored[$0] ?? 0))) }))
        let latency = service.commitLatency
        fields["commit_latency"] = .object([
            "bounds_seconds": .array(latency.bounds.map(JSONValue.double)),
            "counts": .array(latency.counts.map { .int(Int64($0)) }), "sum_seconds": .double(latency.sumSeconds),
        ])
        fields["connections"] = .int(Int64(service.connections))
        fields["followers"] = .int(Int64(service.followers))
        fields["uptime_seconds"] = .int(service.uptimeSeconds)
        fields["redaction_mode"] = .string(service.redactionMode)
        fields["trusted_uids"] = .array(service.trusted.uids.sorted().map { .int(Int64($0)) })
        fields["log_lines_dropped"] = .int(Int64(service.logLinesDropped))
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
                "lag": .int(Int64(journal.lag)), "from_log": .int(Int64(journal.fromLog)),
            ])
        } else {
            fields["journal"] = .object(["enabled": .bool(false)])
        }
        return fields
    }

    /// Reads the log's part, and the daemon's when `uptime_seconds` says a daemon answered.
    public init(fields object: JSONObject) throws(ProtocolError) {
        var fields = Fields(object)
        let records = try fields.required(try fields.object("records"), "records")
        var perSignal: [AuthSignal: Int] = [:]
        for signal in AuthSignal.allCases { perSignal[signal] = Int(records[signal.rawValue]?.intValue ?? 0) }
        var head = Fields(try fields.required(try fields.object("chain_head"), "chain_head"))
        let headSeq = try head.required(try head.integer("seq", minimum: 0), "chain_head.seq")
        guard let headHash = Hex.decode(try head.required(try head.string("hash"), "chain_head.hash")) else {
            throw .invalid("\"chain_head.hash\" must be hexadecimal")
        }
        let log = Log(
            records: perSignal, firstSeq: try fields.integer("first_seq", minimum: 0),
            lastSeq: try fields.integer("last_seq", minimum: 0),
            databaseBytes: try fields.required(try fields.integer("database_bytes", minimum: 0), "database_bytes"),
            headSeq: headSeq, headHash: headHash, logID: try fields.string("log_id"))
        guard let uptime = try fields.integer("uptime_seconds", minimum: 0) else {
            self.init(log: log, service: nil)
            return
        }
        func count(_ reader: inout Fields, _ key: String) throws(ProtocolError) -> Int {
            Int(try reader.required(try reader.integer(key, minimum: 0), key))
        }
        let refusedObject = try fields.required(try fields.object("refused"), "refused")
        var refused: [ErrorCode: Int] = [:]
        for code in ErrorCode.allCases { refused[code] = Int(refusedObject[code.rawValue]?.intValue ?? 0) }
        var spoolFields = Fields(try fields.required(try fields.object("spool"), "spool"))
        let spool = Spool(
            directory: try spoolFields.string("directory"), stored: try count(&spoolFields, "stored"),
            refused: try count(&spoolFields, "refused"), pending: try count(&spoolFields, "pending"))
        var journalFields = Fields(try fields.required(try fields.object("journal"), "journal"))
        var journal: Journal?
        if journalFields.remaining["enabled"] == .bool(true) {
            journal = Journal(
                sent: try count(&journalFields, "sent"), dropped: try count(&journalFields, "dropped"),
                failed: try count(&journalFields, "failed"), queued: try count(&journalFields, "queued"),
                anchors: try count(&journalFields, "anchors"),
                anchorFailures: try count(&journalFields, "anchor_failures"),
                lag: Int(try journalFields.integer("lag", minimum: 0) ?? 0),
                fromLog: Int(try journalFields.integer("from_log", minimum: 0) ?? 0))
        }
        var latencyFields = Fields(try fields.required(try fields.object("commit_latency"), "commit_latency"))
        let bounds = try latencyFields.required(
            try latencyFields.array("bounds_seconds"), "commit_latency.bounds_seconds")
        let counts = try latencyFields.required(try latencyFields.array("counts"), "commit_latency.counts")
        let sum = try latencyFields.required(
            try latencyFields.nonNegativeNumber("sum_seconds"), "commit_latency.sum_seconds")
        let boundValues = bounds.compactMap(\.numberValue)
        let countValues = counts.compactMap { $0.intValue.map(Int.init) }
        guard boundValues.count == bounds.count, countValues.count == counts.count,
            let latency = LatencyHistogram(bounds: boundValues, counts: countValues, sumSeconds: sum)
        else {
            throw .invalid("\"commit_latency\" needs ascending bounds_seconds and one count more than bounds")
        }
        let storedObject = try fields.required(try fields.object("stored"), "stored")
        var stored: [AuthSignal: Int] = [:]
        for signal in AuthSignal.allCases { stored[signal] = Int(storedObject[signal.rawValue]?.intValue ?? 0) }
        // A daemon older than trusted senders trusted root alone.
        let trustedUIDs = try fields.array("trusted_uids") ?? []
        let uids = trustedUIDs.compactMap { $0.intValue.flatMap { UInt32(exactly: $0) } }
        guard uids.count == trustedUIDs.count else { throw .invalid("\"trusted_uids\" must hold uids") }
        let service = Service(
            committedTransactions: try count(&fields, "committed_transactions"), commitLatency: latency,
            stored: stored, connections: try count(&fields, "connections"), followers: try count(&fields, "followers"),
            uptimeSeconds: uptime, redactionMode: try fields.string("redaction_mode") ?? "", refused: refused,
            spool: spool, journal: journal, trusted: TrustedSenders(uids: Set(uids)),
            logLinesDropped: Int(try fields.integer("log_lines_dropped", minimum: 0) ?? 0))
        self.init(log: log, service: service)
    }
}
