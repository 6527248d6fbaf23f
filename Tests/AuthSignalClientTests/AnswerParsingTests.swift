import AuthSignalClient
import AuthSignalProtocol
import Testing

/// How the client reads the daemon's answers, over bytes in memory: every framing of the same
/// answer (one byte at a time, or all at once) reads the same, and what is not protocol v1 is
/// refused.
@Suite("Answer parsing, without a daemon")
struct AnswerParsingTests {
    /// A transport that delivers `answer` in pieces of `piece` bytes and keeps what was sent.
    final class Scripted: DaemonTransport {
        private var pending: [UInt8]
        private let piece: Int
        private(set) var sent: [UInt8] = []

        init(_ answer: String, piece: Int = .max) {
            pending = Array(answer.utf8)
            self.piece = piece
        }

        func send(_ bytes: [UInt8]) throws(ClientError) { sent += bytes }

        func receive(into buffer: inout [UInt8]) throws(ClientError) -> Bool {
            guard !pending.isEmpty else { return false }
            let count = min(piece, pending.count)
            buffer += pending.prefix(count)
            pending.removeFirst(count)
            return true
        }
    }

    static let record =
        #"{"record":{"seq":1,"time":"2026-12-06T10:00:00Z","received":"2026-12-06T10:00:00.000001Z","#
        + #""signal":"user_logged_in","sender":"sshd","user":"alice","peer":{"uid":0,"gid":0,"pid":1},"#
        + #""hash":"00"}}"#

    @Test(arguments: [1, 7, Int.max]) func aQueryReadsEveryRecordAndTheCount(piece: Int) throws {
        let transport = Scripted(
            Self.record + "\n" + Self.record + "\n" + #"{"count":2,"ok":true}"# + "\n", piece: piece)
        let connection = DaemonConnection(transport: transport)
        var objects: [String] = []
        let count = try connection.query(RecordFilter()) { objects.append(String(decoding: $0, as: UTF8.self)) }
        #expect(count == 2)
        #expect(objects.count == 2 && objects.allSatisfy { $0.hasPrefix(#"{"seq":1,"#) && $0.hasSuffix("}") })
        #expect(String(decoding: transport.sent, as: UTF8.self) == #"{"op":"query"}"# + "\n")
    }

    @Test func anErrorLineIsTheDaemonsError() throws {
        let connection = DaemonConnection(
            transport: Scripted(#"{"error":{"code":"forbidden","message":"uid 5 may not"},"ok":false}"# + "\n"))
        #expect {
            try connection.request(.stats, as: StatsAnswer.self)
        } throws: { error in
            guard case ClientError.daemon("forbidden", "uid 5 may not") = error else { return false }
            return true
        }
    }

    @Test(arguments: [
        "not json\n", #"{"ok":true,"count":"#, #"[1,2]"# + "\n", #"{"record":{"seq":1},"x":1"# + "\n",
        #"{"record":{"seq":}}"# + "\n",
    ])
    func whatIsNotProtocolV1IsRefused(_ answer: String) {
        let connection = DaemonConnection(transport: Scripted(answer))
        #expect(throws: ClientError.self) { _ = try connection.query(RecordFilter()) { _ in } }
    }

    @Test func anAnswerCutShortIsALostConnection() {
        let connection = DaemonConnection(transport: Scripted(Self.record + "\n"))
        #expect {
            _ = try connection.query(RecordFilter()) { _ in }
        } throws: { error in
            guard case ClientError.connectionLost = error else { return false }
            return true
        }
    }
}
