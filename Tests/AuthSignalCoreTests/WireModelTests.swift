import AuthSignalProtocol
import Foundation
import Testing

/// The typed wire model is used both ways: what one side encodes, the other decodes to the same
/// value, and the encoding is the documented one.
@Suite("Wire model")
struct WireModelTests {
    static let time = RFC3339.parse("2026-11-25T10:30:00.123456Z")!

    @Test(arguments: [
        ProtocolRequest.emit(
            AuthEvent(
                signal: .userLoginFailed, sender: "sshd", user: "mallory",
                request: ["remote_addr": .string("198.51.100.7"), "port": .int(22)],
                credentials: ["username": .string("mallory")], time: time, id: "pam-1")),
        .emit(AuthEvent(signal: .userLoggedOut, sender: "login", user: nil)),
        .query(RecordFilter()),
        .query(
            RecordFilter(
                user: "alice", signal: .userLoggedIn, sender: "sshd", remoteAddr: "192.0.2.1", since: time,
                until: time.addingTimeInterval(60), afterSeq: 9, limit: 5, order: .descending)),
        .follow(RecordFilter(user: "bob", afterSeq: 3)),
        .stats, .ping, .verify(from: nil, to: nil), .verify(from: 2, to: 40), .hash(value: "#1e95306a or hunter2"),
    ])
    func everyRequestDecodesToWhatWasEncoded(_ request: ProtocolRequest) throws {
        let line = request.line
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(try ProtocolRequest.decode(line.dropLast()) == request)
    }

    @Test func aQueryIsEncodedWithTheDocumentedFieldNames() {
        let request = ProtocolRequest.query(RecordFilter(remoteAddr: "192.0.2.1", afterSeq: 4, order: .descending))
        #expect(
            String(decoding: request.line, as: UTF8.self)
                == #"{"after_seq":4,"op":"query","order":"desc","remote_addr":"192.0.2.1"}"# + "\n")
    }

    static let record = WireRecord(
        seq: 42, received: time, time: time.addingTimeInterval(-1), signal: .userLoginFailed, sender: "sshd",
        user: "#1e95306a\u{1}", request: ["remote_addr": .string("203.0.113.9"), "tty": .string("ssh")],
        credentials: ["password": .string("hmac-sha256:abcd")], peer: PeerCredentials(uid: 0, gid: 0, pid: 7),
        hash: Data(repeating: 0xCD, count: 32))

    /// The record object of a protocol line `{"record":{…}}` and its newline; `nil` for another.
    static func recordObject(_ line: [UInt8]) throws -> JSONObject? {
        guard case .object(let wrapper) = try JSONParser.parse(line.dropLast()),
            case .object(let object)? = wrapper["record"]
        else { return nil }
        return object
    }

    @Test(arguments: [nil, "web1"])
    func aRecordLineReadsBackAsTheSameRecord(host: String?) throws {
        var record = Self.record
        record.host = host
        var line: [UInt8] = []
        record.appendLine(to: &line)
        guard case .object(let wrapper) = try JSONParser.parse(line.dropLast()),
            case .object(let body)? = wrapper["record"]
        else {
            Issue.record("not a record line")
            return
        }
        #expect(try WireRecord(body) == record)
        // Keys sorted, as every line of the protocol.
        #expect(
            String(decoding: line, as: UTF8.self) == String(decoding: CanonicalJSON.encode(wrapper), as: UTF8.self)
                + "\n")
        #expect((body["host"] != nil) == (host != nil))
    }

    @Test func aJournalRecordWithoutPeerFieldsSaysNull() throws {
        var record = Self.record
        record.peer = nil
        var line: [UInt8] = []
        record.appendObject(to: &line)
        #expect(String(decoding: line, as: UTF8.self).contains(#","peer":null,"#))
        guard case .object(let body) = try JSONParser.parse(line) else { return }
        #expect(try WireRecord(body) == record)
    }

    @Test func aRecordWithoutItsFieldsIsRefusedNamingTheField() {
        #expect(throws: ProtocolError.self) { try WireRecord(["seq": .int(1)]) }
        var line: [UInt8] = []
        Self.record.appendObject(to: &line)
        guard case .object(var body)? = try? JSONParser.parse(line) else { return }
        body["peer"] = .object(["uid": .int(-1), "gid": .int(0), "pid": .int(0)])
        #expect(throws: ProtocolError.self) { try WireRecord(body) }
    }

    @Test func answersReadBackAsTheSameAnswers() throws {
        let emits = [EmitAnswer(seq: 3, duplicate: false), EmitAnswer(seq: 3, duplicate: true)]
        for emit in emits { #expect(try EmitAnswer(fields: emit.fields) == emit) }
        #expect(EmitAnswer(seq: 3, duplicate: false).fields == ["seq": .int(3)])
        #expect(try CountAnswer(fields: CountAnswer(count: 12).fields) == CountAnswer(count: 12))
        let ping = PingAnswer(protocolVersion: 1, pid: 99, daemon: "authsignald")
        #expect(try PingAnswer(fields: ping.fields) == ping)
        let verdicts = [
            VerifyAnswer(checked: 10, first: 1, last: 10, problem: nil),
            VerifyAnswer(checked: 4, first: 1, last: 4, problem: .init(seq: 5, description: "record 5 was deleted")),
            VerifyAnswer(checked: 0, first: nil, last: nil, problem: nil),
        ]
        for verdict in verdicts { #expect(try VerifyAnswer(fields: verdict.fields) == verdict) }
        let log = StatsAnswer.Log(
            records: [.userLoggedIn: 3, .userLoginFailed: 1], firstSeq: 1, lastSeq: 4, databaseBytes: 8192,
            headSeq: 4, headHash: Array(repeating: 1, count: 32), logID: "0123")
        var latency = LatencyHistogram()
        for microseconds in [300, 800, 4_000, 7_000_000] { latency.record(.microseconds(microseconds)) }
        let service = StatsAnswer.Service(
            committedTransactions: 2, commitLatency: latency, stored: [.userLoggedIn: 3], connections: 1, followers: 0,
            uptimeSeconds: 60, redactionMode: "hmac",
            refused: [.forbidden: 2], spool: .init(directory: nil, stored: 1, refused: 0, pending: 0),
            journal: .init(sent: 4, dropped: 0, failed: 0, queued: 0, anchors: 1, anchorFailures: 0),
            trusted: TrustedSenders(uids: [1000, 65534]), logLinesDropped: 3)
        for stats in [
            StatsAnswer(log: log, service: nil), StatsAnswer(log: log, service: service),
            StatsAnswer(
                log: log,
                service: StatsAnswer.Service(
                    committedTransactions: 0, commitLatency: LatencyHistogram(), stored: [:], connections: 0,
                    followers: 0, uptimeSeconds: 0, redactionMode: "mask",
                    refused: [:], spool: .init(directory: "/var/spool/authsignal", stored: 0, refused: 0, pending: 0),
                    journal: nil, trusted: .rootOnly, logLinesDropped: 0)),
        ] {
            var expected = stats
            // Every signal and every error code is always counted, zeros included.
            for signal in AuthSignal.allCases { expected.log.records[signal] = stats.log.records[signal] ?? 0 }
            if var counted = expected.service {
                for code in ErrorCode.allCases { counted.refused[code] = counted.refused[code] ?? 0 }
                for signal in AuthSignal.allCases { counted.stored[signal] = counted.stored[signal] ?? 0 }
                expected.service = counted
            }
            #expect(try StatsAnswer(fields: stats.fields) == expected)
            // Through the wire's text too: whole-number bounds come back as integers.
            let line = ProtocolResponse.ok(stats.fields)
            guard case .object(let parsed) = try JSONParser.parse(line.dropLast()) else {
                Issue.record("not an object")
                continue
            }
            #expect(try StatsAnswer(fields: parsed) == expected)
        }
        #expect(throws: ProtocolError.self) { try StatsAnswer(fields: ["records": .object([:])]) }
        #expect(throws: ProtocolError.self) { try EmitAnswer(fields: ["count": .int(1)]) }
    }

    @Test func oneFilterPredicateForEveryKindOfRecord() {
        let record = Self.record
        #expect(RecordFilter().matches(record))
        #expect(RecordFilter(signal: .userLoginFailed, remoteAddr: "203.0.113.9", afterSeq: 41).matches(record))
        #expect(!RecordFilter(afterSeq: 42).matches(record))
        #expect(!RecordFilter(remoteAddr: "203.0.113.10").matches(record))
        #expect(RecordFilter(since: Self.time, until: Self.time.addingTimeInterval(1)).matches(record))
        #expect(!RecordFilter(until: Self.time).matches(record))
        #expect(!RecordFilter(user: "alice").matches(record))
        #expect(!RecordFilter(verdict: .firstSeenSource).matches(record))
        var judged = record
        judged.verdicts = [Verdict(.firstSeenSource, "first login of \"bob\"\n from 203.0.113.9")]
        #expect(RecordFilter(verdict: .firstSeenSource).matches(judged))
        #expect(!RecordFilter(verdict: .outsideHours).matches(judged))
    }

    @Test func verdictsTravelWithTheRecordAndOnlyWhenThereAreSome() throws {
        var record = Self.record
        var line: [UInt8] = []
        record.appendLine(to: &line)
        #expect(!String(decoding: line, as: UTF8.self).contains("verdicts"))
        record.verdicts = [
            Verdict(.successAfterFailures, "login of bob after 5 failures"), Verdict(.firstSeenSource, "first \u{1}"),
        ]
        line = []
        record.appendLine(to: &line)
        let object = try #require(try Self.recordObject(line), "not a record line")
        #expect(try WireRecord(object) == record)
        #expect(throws: ProtocolError.self) {
            try WireRecord(object.merging(["verdicts": .array([.object(["code": .string("odd")])])]) { $1 })
        }
    }

    @Test func aVerdictsScopeIsSaidOnlyWhereItIsKnown() throws {
        var record = Self.record
        record.verdicts = [
            Verdict(.successAfterFailures, "on web1 and web2", scope: .fleet), Verdict(.firstSeenSource, "here"),
        ]
        var line: [UInt8] = []
        record.appendLine(to: &line)
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains(#""reason":"on web1 and web2","scope":"fleet"}"#), "\(text)")
        #expect(text.contains(#""reason":"here"}"#), "\(text)")
        #expect(record.verdicts.map(\.label) == ["success-after-failures@fleet", "first-seen-source"])
        let object = try #require(try Self.recordObject(line), "not a record line")
        #expect(try WireRecord(object) == record)
        let odd: JSONValue = .array([
            .object(["code": .string("outside-hours"), "reason": .string("x"), "scope": .string("rack")])
        ])
        #expect(throws: ProtocolError.self) { try WireRecord(object.merging(["verdicts": odd]) { $1 }) }
    }
}
