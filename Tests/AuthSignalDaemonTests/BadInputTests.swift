import Foundation
import Glibc
import Testing

extension DaemonTests {
    /// Hostile and broken input: each case gets a clear error (or a closed connection for what cannot
    /// be framed), and afterwards the daemon still serves a well-behaved client on another connection.
    @Suite struct BadInputTests {
        /// One shared daemon: a bad frame must not affect anyone else, including later tests.
        static let daemon = Result { try DaemonUnderTest(killAtExit: true) }

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

        @Test(arguments: cases) func rejectedWithAClearErrorAndTheDaemonServesOthers(_ input: Case) throws {
            let daemon = try Self.daemon.get()
            let client = try Client(daemon.socketPath)
            try client.send(input.bytes)
            let line = try #require(try client.readLine())
            #expect(errorCode(line) == input.code, "\(input.name): \(line)")
            // The connection stays usable after any error but too_large.
            let ping = try client.request(#"{"op":"ping"}"#)
            #expect(ping.last?.contains(#""ok":true"#) == true, "\(input.name): ping answered \(ping)")
            try expectServes(daemon)
        }

        @Test func tenMebibyteLineIsTooLargeAndClosesOnlyThatConnection() throws {
            let daemon = try Self.daemon.get()
            let bystander = try Client(daemon.socketPath)
            let client = try Client(daemon.socketPath)
            let line =
                Array(#"{"op":"emit","signal":"user_logged_in","sender":"sshd","user":""#.utf8)
                + [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20) + Array("\"}\n".utf8)
            // The daemon answers and closes long before the whole line is sent; the send may fail.
            try? client.send(line)
            #expect(errorCode(try #require(try client.readLine())) == "too_large")
            #expect(try client.readLine() == nil)
            #expect(try bystander.final(#"{"op":"ping"}"#)["ok"] as? Bool == true)
            try expectServes(daemon)
        }

        @Test func lineWithoutNewlineThenEndOfInput() throws {
            let daemon = try Self.daemon.get()
            let client = try Client(daemon.socketPath)
            try client.send(emitLine(user: "truncated"))
            client.shutdownWrite()
            #expect(errorCode(try #require(try client.readLine())) == "invalid_request")
            #expect(try client.readLine() == nil)
            // The unterminated event was not stored.
            let query = try Client(daemon.socketPath).request(#"{"op":"query","user":"truncated"}"#)
            #expect(query.count == 1)
            try expectServes(daemon)
        }

        @Test func completeRequestsBeforeEndOfInputAreAnswered() throws {
            let daemon = try Self.daemon.get()
            let client = try Client(daemon.socketPath)
            try client.send(emitLine(user: "half") + "\n" + #"{"op":"ping"}"# + "\n")
            client.shutdownWrite()
            #expect(try client.readLine()?.contains(#""ok":true"#) == true)
            #expect(try client.readLine()?.contains(#""protocol":1"#) == true)
            #expect(try client.readLine() == nil)
        }

        @Test func thousandConnectionsAtOnce() throws {
            let daemon = try Self.daemon.get()
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            if limit.rlim_cur < 2200 {
                limit.rlim_cur = min(limit.rlim_max, 4096)
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
            var clients: [Client] = []
            for _ in 0..<1000 { clients.append(try Client(daemon.socketPath)) }
            for client in clients { try client.send(#"{"op":"ping"}"# + "\n") }
            var answered = 0
            for client in clients where try client.readLine()?.contains(#""ok":true"#) == true { answered += 1 }
            #expect(answered == 1000)
            clients.removeAll()
            try expectServes(daemon)
        }

        @Test func clientThatNeverReadsItsAcksCannotGrowTheDaemon() throws {
            let daemon = try Self.daemon.get()
            let rssBefore = residentKiB(daemon.pid)
            let client = try Client(daemon.socketPath, timeoutSeconds: 2)
            // Small socket buffers make the daemon's side fill quickly.
            var size: Int32 = 4096
            setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            let request = Array((#"{"op":"ping"}"# + "\n").utf8)
            var batch: [UInt8] = []
            for _ in 0..<1000 { batch += request }
            var sent = 0
            // Keep sending until the daemon stops reading (the send times out) or 200 MiB went out.
            while sent < 200 << 20 {
                do { try client.send(batch) } catch { break }
                sent += batch.count
            }
            #expect(sent < 200 << 20, "the daemon kept reading without its answers being read")
            try expectServes(daemon)
            let rssAfter = residentKiB(daemon.pid)
            #expect(rssAfter - rssBefore < 64 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
        }
    }
}

/// The resident set size of a process, in KiB.
func residentKiB(_ pid: Int32) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
