import AuthSignalCore
import AuthSignalProtocol
import Foundation
import SpawnSupport
import Testing

@testable import AuthSignalDaemon

/// Every op against the daemon's serving path in process (``DaemonHarness``): a real audit log,
/// the real handler and processor, pipelined requests on one connection.
@Suite("Protocol, in process")
struct ProtocolInProcessTests {
    @Test func pingEmitQueryStatsVerifyPipelinedInOrder() async throws {
        let harness = try DaemonHarness()
        let client = try await harness.connect()
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
        try await client.send(requests.map { $0 + "\n" }.joined())
        var answers: [[String]] = []
        for _ in requests { answers.append(try await client.answer()) }
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
        #expect(peer["uid"] as? Int == 0)
        #expect(peer["pid"] as? Int == 4242)

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

    /// An emit retried with its `id` is stored once, across connections and a restart.
    @Test func idempotentRetryAcrossConnectionsAndRestart() async throws {
        let harness = try DaemonHarness()
        let first = try await harness.connect().final(emitLine(id: "pam-4711"))
        let again = try await harness.connect().final(emitLine(id: "pam-4711"))
        #expect(first["seq"] as? Int == 1)
        #expect(again["seq"] as? Int == 1)
        #expect(again["duplicate"] as? Bool == true)
        try await harness.close()
        let restarted = try DaemonHarness(directory: harness.directory)
        let afterRestart = try await restarted.connect().final(emitLine(id: "pam-4711"))
        #expect(afterRestart["seq"] as? Int == 1)
        #expect(afterRestart["duplicate"] as? Bool == true)
        #expect(try await restarted.connect().final(emitLine(id: "pam-4712"))["seq"] as? Int == 2)
        try await restarted.close()
    }

    @Test func queryFiltersLimitTimeAndAfterSeq() async throws {
        let harness = try DaemonHarness { $0.hashUnknownUsers = false }
        let client = try await harness.connect()
        let before = Date()
        for index in 0..<20 {
            let signal = ["user_logged_in", "user_logged_out", "user_login_failed"][index % 3]
            let sender = index % 2 == 0 ? "sshd" : "login"
            let answer = try await client.final(
                emitLine(
                    signal, sender: sender, user: "user\(index % 4)",
                    request: #"{"remote_addr":"198.51.100.\#(index % 5)"}"#))
            #expect(answer["seq"] as? Int == index + 1)
        }
        func count(_ request: String) async throws -> Int {
            let lines = try await client.request(request)
            let total = try object(lines.last!)["count"] as? Int
            #expect(total == lines.count - 1)
            return total ?? -1
        }
        #expect(try await count(#"{"op":"query"}"#) == 20)
        #expect(try await count(#"{"op":"query","user":"user1"}"#) == 5)
        #expect(try await count(#"{"op":"query","signal":"user_logged_out"}"#) == 7)
        #expect(try await count(#"{"op":"query","sender":"login","signal":"login"}"#) == 3)
        #expect(try await count(#"{"op":"query","remote_addr":"198.51.100.4"}"#) == 4)
        #expect(try await count(#"{"op":"query","after_seq":15}"#) == 5)
        #expect(try await count(#"{"op":"query","limit":3,"order":"desc"}"#) == 3)
        let since = ISO8601DateFormatter().string(from: before.addingTimeInterval(-60))
        #expect(try await count(#"{"op":"query","since":"\#(since)"}"#) == 20)
        #expect(try await count(#"{"op":"query","until":"\#(since)"}"#) == 0)
    }

    @Test func followStreamsCommittedRecordsAndReplaysAfterSeq() async throws {
        let harness = try DaemonHarness()
        let emitter = try await harness.connect()
        for index in 0..<3 { _ = try await emitter.final(emitLine(user: "early\(index)")) }
        let follower = try await harness.connect()
        try await follower.send(#"{"op":"follow","after_seq":1,"signal":"user_login_failed"}"# + "\n")
        let replayFollower = try await harness.connect()
        try await replayFollower.send(#"{"op":"follow","after_seq":1}"# + "\n")
        // The replay of records 2 and 3, then live records.
        #expect(try await replayFollower.lines(1).first?.contains(#""seq":2"#) == true)
        #expect(try await replayFollower.lines(1).first?.contains(#""seq":3"#) == true)
        try await waitFor("both follows") { harness.processor.followers.count == 2 }
        _ = try await emitter.final(emitLine("user_login_failed", user: "root"))
        _ = try await emitter.final(emitLine("user_logged_in", user: "bob"))
        let live = try #require(try await follower.lines(1).first)
        #expect(live.contains(#""user":"root""#))
        #expect(live.contains(#""seq":4"#))
        #expect(try await replayFollower.lines(1).first?.contains(#""seq":4"#) == true)
        #expect(try await replayFollower.lines(1).first?.contains(#""seq":5"#) == true)
        // Shutdown ends a follow with its final line.
        harness.processor.followers.finishAll()
        let final = try #require(try await follower.lines(1).first)
        #expect(final.contains(#""ok":true"#))
        #expect(final.contains(#""count":1"#))
        try await harness.close()
    }

    @Test func failedLoginOfUnknownAccountIsStoredKeyedHashed() async throws {
        let harness = try DaemonHarness()
        let client = try await harness.connect()
        _ = try await client.final(
            emitLine("user_login_failed", user: nil, credentials: #"{"username":"Tr0ub4dor&3"}"#))
        let record = try #require(
            try object(try await client.request(#"{"op":"query"}"#)[0])["record"] as? [String: Any])
        let user = try #require(record["user"] as? String)
        #expect(user.hasPrefix("hmac-sha256:"))
        #expect(!record.description.contains("Tr0ub4dor"))
    }

    /// An attacker chooses the user name: one with an escape or over 256 bytes is recorded, never
    /// refused; escaped and marked when stored as is, hashed when it names no account.
    @Test func strangeUserNamesAreRecordedNotRefused() async throws {
        let harness = try DaemonHarness()
        let client = try await harness.connect()
        let long = String(repeating: "n", count: 300)
        #expect(try await client.final(emitLine("user_logged_out", user: #"a\u001b[2Jb"#))["ok"] as? Bool == true)
        #expect(try await client.final(emitLine("user_login_failed", user: long + #"\u001b"#))["ok"] as? Bool == true)
        let lines = try await client.request(#"{"op":"query"}"#)
        let users = try lines.dropLast().map { try #require(try object($0)["record"] as? [String: Any])["user"] }
        #expect(users.first as? String == "a\\x1b[2Jb…[altered]")
        #expect((users.last as? String)?.hasPrefix("hmac-sha256:") == true)
        #expect(!lines.joined().contains(long))
    }
}
