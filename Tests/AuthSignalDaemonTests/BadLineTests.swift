import AuthSignalCore
import AuthSignalProtocol
import SpawnSupport
import Testing

/// Hostile and broken request lines, in process (``DaemonHarness``): each gets a clear error in
/// its place, the connection stays usable, and the daemon serves everyone else.
@Suite("Bad request lines, in process")
struct BadLineTests {
    /// One harness for every case: a bad line must not affect anyone else.
    static let harness = Result { try DaemonHarness() }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let code: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        func add(_ name: String, _ text: String, _ code: String) {
            cases.append(Case(name: name, bytes: Array((text + "\n").utf8), code: code))
        }
        add("invalid JSON", #"{"op":"ping""#, "invalid_json")
        add("not JSON at all", "{nope", "invalid_json")
        add("emit without its fields", #"{"op":"emit"}"#, "invalid_request")
        add("ping with an unknown field", #"{"op":"ping","extra":1}"#, "invalid_request")
        cases.append(
            Case(
                name: "invalid UTF-8",
                bytes: Array(#"{"op":"emit","signal":"user_logged_in","sender":"sshd","user":""#.utf8) + [
                    0xC3, 0x28,
                ]
                    + Array("\"}\n".utf8), code: "invalid_json"))
        add(
            "10,000-deep nesting",
            #"{"op":"emit","signal":"user_logged_in","sender":"s","user":"u","request":"#
                + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}",
            "invalid_json")
        add("unknown op", #"{"op":"drop_tables"}"#, "invalid_request")
        add(
            "unknown signal", #"{"op":"emit","signal":"user_hacked","sender":"sshd","user":"u"}"#, "invalid_request"
        )
        add("missing sender", #"{"op":"emit","signal":"user_logged_in","user":"u"}"#, "invalid_request")
        add("empty sender", #"{"op":"emit","signal":"user_logged_in","sender":"","user":"u"}"#, "invalid_request")
        add(
            "missing user for login", #"{"op":"emit","signal":"user_logged_in","sender":"sshd"}"#, "invalid_request"
        )
        add("empty object", "{}", "invalid_request")
        add("JSON array at top level", #"[{"op":"ping"}]"#, "invalid_request")
        add("JSON string at top level", #""ping""#, "invalid_request")
        cases.append(
            Case(
                name: "raw NUL byte", bytes: Array(#"{"op":"ping""#.utf8) + [0] + Array("}\n".utf8),
                code: "invalid_json"))
        add(
            "escaped NUL in a value", #"{"op":"emit","signal":"user_logged_in","sender":"ss\u0000hd","user":"u"}"#,
            "invalid_json")
        add(
            "control character in sender",
            #"{"op":"emit","signal":"user_logged_in","sender":"ss\u001b[2Jhd","user":"u"}"#, "invalid_request")
        add("huge number", #"{"op":"query","limit":1e999}"#, "invalid_json")
        add("huge integer", #"{"op":"query","after_seq":123456789012345678901234567890}"#, "invalid_request")
        add("negative limit", #"{"op":"query","limit":-1}"#, "invalid_request")
        add("duplicate keys", #"{"op":"ping","op":"emit"}"#, "invalid_json")
        add(
            "unknown field", #"{"op":"emit","signal":"user_logged_in","sender":"sshd","user":"u","pasword":"x"}"#,
            "invalid_request")
        add(
            "bad time", #"{"op":"emit","signal":"user_logged_in","sender":"sshd","user":"u","time":"yesterday"}"#,
            "invalid_request")
        add(
            "overlong sender",
            #"{"op":"emit","signal":"user_logged_in","sender":""# + String(repeating: "s", count: 300)
                + #"","user":"u"}"#, "invalid_request")
        // Wrong types for every field of every op.
        let emit = #""op":"emit","signal":"user_logged_in","sender":"sshd","user":"u""#
        for (field, value) in [
            ("op", "1"), ("signal", "true"), ("sender", "[]"), ("user", "{}"), ("request", "\"x\""),
            ("credentials", "[1]"), ("time", "12"), ("id", "false"),
        ] {
            let others = emit.split(separator: ",").filter { !$0.hasPrefix("\"\(field)\"") }.joined(separator: ",")
            add("emit with \(field) of the wrong type", "{\(others),\"\(field)\":\(value)}", "invalid_request")
        }
        for (field, value) in [
            ("user", "1"), ("signal", "2"), ("sender", "{}"), ("remote_addr", "[]"), ("since", "3"),
            ("until", "true"),
            ("after_seq", "\"7\""), ("limit", "1.5"), ("order", "\"sideways\""),
        ] {
            add(
                "query with \(field) of the wrong type", #"{"op":"query","\#(field)":\#(value)}"#, "invalid_request"
            )
        }
        add("verify with from of the wrong type", #"{"op":"verify","from":"1"}"#, "invalid_request")
        return cases
    }()

    @Test(arguments: cases) func rejectedWithAClearErrorAndTheDaemonServesOthers(_ input: Case) async throws {
        let harness = try Self.harness.get()
        let connection = try await harness.connect()
        try await connection.send(bytes: input.bytes)
        let line = try #require(try await connection.lines(1).first)
        #expect(try Answer.errorCode(line) == input.code, "\(input.name): \(line)")
        // The connection stays usable after any error but too_large.
        try await connection.send(#"{"op":"ping"}"# + "\n")
        let ping = try await connection.lines(1).first
        #expect(ping?.contains(#""ok":true"#) == true, "\(input.name): ping answered \(ping ?? "nothing")")
        // Another connection is served.
        let other = try await harness.exchange([Answer.emit("after-\(input.name.count)")])
        #expect(try Answer.seqs(other).count == 1)
    }

    @Test func aTenMebibyteLineIsTooLargeAndClosesOnlyThatConnection() async throws {
        let harness = try DaemonHarness()
        let bystander = try await harness.connect()
        let connection = try await harness.connect()
        let line =
            Array(#"{"op":"emit","signal":"user_logged_in","sender":"sshd","user":""#.utf8)
            + [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20) + Array("\"}\n".utf8)
        try await connection.send(bytes: line)
        #expect(try Answer.errorCode(try #require(try await connection.lines(1).first)) == "too_large")
        #expect(await connection.closes())
        #expect(try await bystander.final(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        #expect(try await harness.records().isEmpty)
        try await harness.close()
    }

    /// `MaxFrameBytes` is the daemon's, not a constant: a line over a smaller setting is refused.
    @Test func aLineOverMaxFrameBytesIsTooLargeAndClosesTheConnection() async throws {
        let harness = try DaemonHarness { $0.maxFrameBytes = 1024 }
        let connection = try await harness.connect()
        try await connection.send(String(repeating: "x", count: 2000) + "\n")
        #expect(try Answer.errorCode(try #require(try await connection.lines(1).first)) == "too_large")
        #expect(await connection.closes())
        #expect(try await harness.exchange([#"{"op":"ping"}"#])[0].contains(#""ok":true"#))
        try await harness.close()
    }

    @Test func aLineWithoutNewlineThenEndOfInputIsRefusedAndNotStored() async throws {
        let harness = try DaemonHarness()
        let connection = try await harness.connect()
        try await connection.send(Answer.emit("truncated"))
        connection.endInput()
        #expect(try Answer.errorCode(try #require(try await connection.lines(1).first)) == "invalid_request")
        #expect(await connection.closes())
        #expect(try await harness.records().isEmpty)
        try await harness.close()
    }

    @Test func completeRequestsBeforeEndOfInputAreAnswered() async throws {
        let harness = try DaemonHarness()
        let connection = try await harness.connect()
        try await connection.send(Answer.emit("half") + "\n" + #"{"op":"ping"}"# + "\n")
        connection.endInput()
        let answers = try await connection.lines(2)
        #expect(answers.count == 2)
        #expect(try Answer.seqs(answers.prefix(1)) == [1])
        #expect(answers.last?.contains(#""protocol":1"#) == true)
        #expect(await connection.closes())
        try await harness.close()
    }
}
