import AuthSignalProtocol
import Foundation
import Testing

/// Each op's fields are named once (`RequestField`): what the encoder writes, what the decoder
/// reads back and what an unknown field's error lists are the same names.
@Suite("Request fields, named once")
struct RequestFieldTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000.5)

    /// A request of every op with every field it takes set.
    static let everyField: [ProtocolRequest] = {
        var query = RecordFilter(signal: .userLoginFailed)
        query.user = "alice"
        query.sender = "sshd"
        query.remoteAddr = "192.0.2.7"
        query.verdict = .successAfterFailures
        query.since = time
        query.until = time
        query.afterSeq = 4
        query.limit = 5
        query.order = .descending
        var follow = query
        follow.limit = nil
        follow.order = .ascending
        var sessions = SessionFilter(user: "alice")
        sessions.since = time
        sessions.until = time
        sessions.present = time
        sessions.openOnly = true
        sessions.limit = 3
        sessions.order = .descending
        let event = AuthEvent(
            signal: .userLoginFailed, sender: "sshd", user: "alice", request: ["tty": .string("ssh")],
            credentials: ["password": .string("x")], time: time, id: "id-1")
        return [
            .emit(event), .query(query), .follow(follow), .stats, .verify(from: 1, to: 2), .ping,
            .hash(value: "v", senderUID: 7), .sessions(sessions),
            .accounts(AccountFilter(user: "alice", failedOnly: true)), .verdicts(since: time, until: time),
            .notice(user: "alice", remoteAddr: "192.0.2.7", periodDays: 7),
        ]
    }()

    @Test(arguments: everyField) func theEncoderWritesExactlyTheFieldsTheDecoderReads(_ request: ProtocolRequest) throws
    {
        let object = request.object
        var accepted = Set(RequestField.accepted(by: request.op).map(\.rawValue))
        // A follow's order can only be the default, which the encoder leaves out.
        if request.op == "follow" { accepted.remove(RequestField.order.rawValue) }
        #expect(Set(object.keys) == accepted)
        #expect(try ProtocolRequest.decode(object) == request)
    }

    @Test func everyOpHasItsFieldsAndAnUnknownFieldNamesThem() throws {
        #expect(Set(Self.everyField.map(\.op)) == Set(ProtocolRequest.ops))
        #expect(throws: ProtocolError(.invalidRequest, "unknown field for verify; its fields are op, from, to")) {
            try ProtocolRequest.decode(["op": .string("verify"), "secret": .string("hunter2")])
        }
    }
}
