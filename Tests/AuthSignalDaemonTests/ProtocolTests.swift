import Foundation
import Glibc
import TestSupport
import Testing

extension DaemonTests {
    /// Every op and error code against the real daemon on a real socket and database.
    @Suite struct ProtocolTests {
        @Test func pingEmitQueryStatsVerifyPipelinedInOrder() throws {
            let daemon = try DaemonUnderTest()
            let client = try Client(daemon.socketPath)
            let requests = [
                #"{"op":"ping"}"#,
                emitLine(
                    "user_login_failed", user: "root", id: "retry-1",
                    request: #"{"remote_addr":"203.0.113.9","remote_port":52144,"service":"sshd","tty":"ssh"}"#,
                    credentials: #"{"username":"root","password":"hunter2"}"#),
                emitLine("user_logged_in", user: "alice", request: #"{"remote_addr":"203.0.113.9"}"#),
                emitLine("user_logged_out", user: nil),
                emitLine("user_login_failed", user: "root", id: "retry-1"),
                #"{"op":"query","user":"alice","order":"desc"}"#,
                #"{"op":"query","signal":"failed","remote_addr":"203.0.113.9"}"#,
                #"{"op":"stats"}"#,
                #"{"op":"verify"}"#,
            ]
            // All requests in one write: pipelined, answered in order.
            try client.send(requests.map { $0 + "\n" }.joined())
            let answers = try requests.map { _ in try client.answer() }
            let ping = try object(answers[0].last!)
            #expect(ping["ok"] as? Bool == true)
            #expect(ping["protocol"] as? Int == 1)
            #expect(try object(answers[1][0])["seq"] as? Int == 1)
            #expect(try object(answers[2][0])["seq"] as? Int == 2)
            #expect(try object(answers[3][0])["seq"] as? Int == 3)
            let retry = try object(answers[4][0])
            #expect(retry["seq"] as? Int == 1)
            #expect(retry["duplicate"] as? Bool == true)

            // The query sees every earlier emit of the connection; newest first.
            let aliceLines = answers[5]
            #expect(aliceLines.count == 2)
            #expect(try object(aliceLines.last!)["count"] as? Int == 1)
            let newest = try #require(try object(aliceLines[0])["record"] as? [String: Any])
            #expect(newest["seq"] as? Int == 2)
            #expect(newest["signal"] as? String == "user_logged_in")
            for key in [
                "seq", "time", "received", "signal", "sender", "user", "request", "credentials", "peer", "hash",
            ] {
                #expect(newest.keys.contains(key), "record lacks \(key)")
            }
            let peer = try #require(newest["peer"] as? [String: Any])
            #expect(peer["uid"] as? Int == Int(getuid()))
            #expect(peer["pid"] as? Int == Int(getpid()))

            let failed = try #require(try object(answers[6][0])["record"] as? [String: Any])
            let credentials = try #require(failed["credentials"] as? [String: Any])
            #expect((credentials["password"] as? String)?.hasPrefix("hmac-sha256:") == true)
            #expect(credentials["username"] as? String == "root")
            #expect(failed["user"] as? String == "root")
            #expect((failed["request"] as? [String: Any])?["remote_port"] as? Int == 52144)

            let stats = try object(answers[7].last!)
            #expect((stats["records"] as? [String: Any])?["total"] as? Int == 3)
            #expect((stats["records"] as? [String: Any])?["user_login_failed"] as? Int == 1)
            #expect((stats["chain_head"] as? [String: Any])?["seq"] as? Int == 3)
            let verify = try object(answers[8].last!)
            #expect(verify["valid"] as? Bool == true)
            #expect(verify["checked"] as? Int == 3)
        }

        @Test func queryFiltersLimitTimeAndAfterSeq() throws {
            let daemon = try DaemonUnderTest(extra: "[Redaction]\nHashUnknownUsers=no\n")
            let client = try Client(daemon.socketPath)
            let before = Date()
            for index in 0..<20 {
                let signal = ["user_logged_in", "user_logged_out", "user_login_failed"][index % 3]
                let sender = index % 2 == 0 ? "sshd" : "login"
                let answer = try client.final(
                    emitLine(
                        signal, sender: sender, user: "user\(index % 4)",
                        request: #"{"remote_addr":"198.51.100.\#(index % 5)"}"#))
                #expect(answer["seq"] as? Int == index + 1)
            }
            func count(_ request: String) throws -> Int {
                let lines = try client.request(request)
                let total = try object(lines.last!)["count"] as? Int
                #expect(total == lines.count - 1)
                return total ?? -1
            }
            #expect(try count(#"{"op":"query"}"#) == 20)
            #expect(try count(#"{"op":"query","user":"user1"}"#) == 5)
            #expect(try count(#"{"op":"query","signal":"user_logged_out"}"#) == 7)
            #expect(try count(#"{"op":"query","sender":"login","signal":"login"}"#) == 3)
            #expect(try count(#"{"op":"query","remote_addr":"198.51.100.4"}"#) == 4)
            #expect(try count(#"{"op":"query","after_seq":15}"#) == 5)
            #expect(try count(#"{"op":"query","limit":3,"order":"desc"}"#) == 3)
            let since = ISO8601DateFormatter().string(from: before.addingTimeInterval(-60))
            #expect(try count(#"{"op":"query","since":"\#(since)"}"#) == 20)
            #expect(try count(#"{"op":"query","until":"\#(since)"}"#) == 0)
        }

        @Test func followStreamsCommittedRecordsAndReplaysAfterSeq() throws {
            let daemon = try DaemonUnderTest()
            let emitter = try Client(daemon.socketPath)
            for index in 0..<3 { _ = try emitter.final(emitLine(user: "early\(index)")) }
            let follower = try Client(daemon.socketPath)
            try follower.send(#"{"op":"follow","after_seq":1,"signal":"user_login_failed"}"# + "\n")
            let replayFollower = try Client(daemon.socketPath)
            try replayFollower.send(#"{"op":"follow","after_seq":1}"# + "\n")
            // The replay of records 2 and 3, then live records.
            #expect(try replayFollower.readLine()?.contains(#""seq":2"#) == true)
            #expect(try replayFollower.readLine()?.contains(#""seq":3"#) == true)
            usleep(200_000)
            _ = try emitter.final(emitLine("user_login_failed", user: "root"))
            _ = try emitter.final(emitLine("user_logged_in", user: "bob"))
            let live = try #require(try follower.readLine())
            #expect(live.contains(#""user":"root""#))
            #expect(live.contains(#""seq":4"#))
            #expect(try replayFollower.readLine()?.contains(#""seq":4"#) == true)
            #expect(try replayFollower.readLine()?.contains(#""seq":5"#) == true)
            // Shutdown ends a follow with its final line.
            #expect(daemon.stop() == 0)
            let final = try #require(try follower.readLine())
            #expect(final.contains(#""ok":true"#))
            #expect(final.contains(#""count":1"#))
        }

        @Test func errorCodes() throws {
            let daemon = try DaemonUnderTest(extra: "[Access]\nEmitUsers=\nEmitGroups=\n")
            let client = try Client(daemon.socketPath)
            #expect(errorCode(try client.request("{nope").last!) == "invalid_json")
            #expect(errorCode(try client.request(#"{"op":"emit"}"#).last!) == "invalid_request")
            // Root may always emit; forbidden needs another account (AccessTests). An unknown field:
            #expect(errorCode(try client.request(#"{"op":"ping","extra":1}"#).last!) == "invalid_request")
            // unavailable: more connections than allowed (root is exempt, so another account).
            if isRoot {
                _ = try requireTestAccount()
                let limited = try DaemonUnderTest(extra: "[Socket]\nMaxConnections=2\n")
                // The daemon may not have seen the start-up probe's connection close yet: retry.
                let first = try connectedClient(limited.socketPath)
                let second = try connectedClient(limited.socketPath)
                _ = (first, second)
                let third = try requestAs(testAccount, socket: limited.socketPath, [#"{"op":"ping"}"#])
                #expect(third.count == 1 && errorCode(third[0]) == "unavailable", "\(third)")
                // The CLI says why, whether its request went out before the daemon closed or not.
                let refused = try runCommand(
                    "/usr/bin/setpriv",
                    [
                        "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath, "ping",
                        "--socket", limited.socketPath,
                    ])
                #expect(refused.status == 3 && refused.output.contains("(MaxConnections=2)"), "\(refused)")
            }
            // too_large: answered, then the connection closes.
            let big = try DaemonUnderTest(extra: "[Socket]\nMaxFrameBytes=1024\n")
            let large = try Client(big.socketPath)
            try large.send(String(repeating: "x", count: 2000) + "\n")
            #expect(errorCode(try #require(try large.readLine())) == "too_large")
            #expect(try large.readLine() == nil)
            try expectServes(big)
        }

        @Test func failedLoginOfUnknownAccountIsStoredKeyedHashed() throws {
            let daemon = try DaemonUnderTest()
            let client = try Client(daemon.socketPath)
            _ = try client.final(emitLine("user_login_failed", user: nil, credentials: #"{"username":"Tr0ub4dor&3"}"#))
            let record = try #require(try object(try client.request(#"{"op":"query"}"#)[0])["record"] as? [String: Any])
            let user = try #require(record["user"] as? String)
            #expect(user.hasPrefix("hmac-sha256:"))
            #expect(!daemon.log.contains("Tr0ub4dor"))
        }

        /// An attacker chooses the user name: one with an escape or over 256 bytes is recorded, never
        /// refused; escaped and marked when stored as is, hashed when it names no account.
        @Test func strangeUserNamesAreRecordedNotRefused() throws {
            let daemon = try DaemonUnderTest()
            let client = try Client(daemon.socketPath)
            let long = String(repeating: "n", count: 300)
            #expect(try client.final(emitLine("user_logged_out", user: #"a\u001b[2Jb"#))["ok"] as? Bool == true)
            #expect(try client.final(emitLine("user_login_failed", user: long + #"\u001b"#))["ok"] as? Bool == true)
            let lines = try client.request(#"{"op":"query"}"#)
            let users = try lines.dropLast().map { try #require(try object($0)["record"] as? [String: Any])["user"] }
            #expect(users.first as? String == "a\\x1b[2Jb…[altered]")
            #expect((users.last as? String)?.hasPrefix("hmac-sha256:") == true)
            #expect(!lines.joined().contains(long))
        }

        @Test func idempotentRetryAcrossConnectionsAndRestart() throws {
            let daemon = try DaemonUnderTest()
            let first = try Client(daemon.socketPath).final(emitLine(id: "pam-4711"))
            let again = try Client(daemon.socketPath).final(emitLine(id: "pam-4711"))
            #expect(first["seq"] as? Int == 1)
            #expect(again["seq"] as? Int == 1)
            #expect(again["duplicate"] as? Bool == true)
            #expect(daemon.stop() == 0)
            try daemon.start()
            let afterRestart = try Client(daemon.socketPath).final(emitLine(id: "pam-4711"))
            #expect(afterRestart["seq"] as? Int == 1)
            #expect(afterRestart["duplicate"] as? Bool == true)
            #expect(try Client(daemon.socketPath).final(emitLine(id: "pam-4712"))["seq"] as? Int == 2)
        }
    }
}

/// A client the daemon accepted (retrying while it is at its connection limit).
func connectedClient(_ path: String) throws -> Client {
    for _ in 0..<100 {
        let client = try Client(path)
        if (try? client.final(#"{"op":"ping"}"#))?["ok"] as? Bool == true { return client }
        usleep(20_000)
    }
    throw DaemonTestError("the daemon never accepted a connection")
}
