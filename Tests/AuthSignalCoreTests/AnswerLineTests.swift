import AuthSignalProtocol
import Testing

/// Reading answer lines as a client of the protocol library does.
@Suite struct AnswerLineTests {
    static func read(_ text: String) throws(ProtocolError) -> AnswerLine<WireRecord> {
        try AnswerLine<WireRecord>(Array(text.utf8))
    }

    @Test func itemsFinalLinesAndErrorsAreToldApart() throws {
        let record =
            #"{"record":{"seq":3,"received":"2026-12-06T10:00:00.000001Z","time":null,"#
            + #""signal":"user_login_failed","sender":"sshd","user":"root","request":null,"credentials":null,"#
            + #""peer":{"uid":0,"gid":0,"pid":7},"hash":"00ff"}}"#
        guard case .item(let item) = try Self.read(record) else {
            Issue.record("a record line is not an item")
            return
        }
        #expect(item.seq == 3 && item.signal == .userLoginFailed && item.user == "root")
        guard case .ok(let fields) = try Self.read(#"{"ok":true,"count":1}"#) else {
            Issue.record("an ok line is not ok")
            return
        }
        #expect(fields == ["count": .int(1)])
        guard case .error(let error) = try Self.read(#"{"ok":false,"error":{"code":"forbidden","message":"no"}}"#)
        else {
            Issue.record("an error line is not an error")
            return
        }
        #expect(error == ProtocolError(.forbidden, "no"))
        // A code from a later version reads as internal, with its message kept.
        guard case .error(let later) = try Self.read(#"{"ok":false,"error":{"code":"rate_limited","message":"m"}}"#)
        else {
            Issue.record("an error line with an unknown code is not an error")
            return
        }
        #expect(later == ProtocolError(.internal, "m"))
    }

    @Test func whatIsNoAnswerLineIsRefusedWithWhy() {
        #expect(throws: ProtocolError.self) { try Self.read("{nope") }
        #expect((try? Self.read("[1]")) == nil)
        do {
            _ = try Self.read(#"{"hello":1}"#)
            Issue.record("a line that is neither item, ok nor error was read")
        } catch {
            #expect(error.code == .invalidRequest)
        }
        do {
            _ = try Self.read(#"{"record":{"seq":1}}"#)
            Issue.record("a record without its fields was read")
        } catch {
            #expect(error.code == .invalidRequest)
        }
        do {
            _ = try Self.read("{nope")
        } catch {
            #expect(error.code == .invalidJSON)
        }
    }
}
