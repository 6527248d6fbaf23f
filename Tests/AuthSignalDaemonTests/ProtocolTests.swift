import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    /// Every op and error code against the real daemon on a real socket and database.
    @Suite struct ProtocolTests {
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
