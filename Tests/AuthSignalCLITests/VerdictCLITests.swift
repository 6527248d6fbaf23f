import Foundation
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    /// Verdicts as an admin meets them: judged live by a daemon, shown by `query`, and replayed by
    /// `authsignal verdicts` with the same result, or with other settings from a file.
    @Suite struct VerdictCLITests {
        static func codes(_ jsonl: String) throws -> [[String]] {
            try jsonl.split(separator: "\n").map { line in
                let verdicts = try object(String(line))["verdicts"] as? [[String: Any]] ?? []
                return verdicts.compactMap { $0["code"] as? String }
            }
        }

        @Test func liveAndReplayedVerdictsAgree() throws {
            // root: an account on every host, so its failures are stored by name, as a real account's are.
            let settings =
                "[Verdicts]\nEnabled=first-seen-source success-after-failures\nFailureThreshold=3\nLearnLogins=2\n"
            let daemon = try DaemonUnderTest(extra: settings)
            let socket = daemon.socketPath
            func send(_ signal: String, from address: String) throws {
                let sent = try cli(["send", signal, "--user", "root", "--remote-addr", address], socket: socket)
                #expect(sent.status == 0, "\(sent)")
            }
            try send("login", from: "198.51.100.4")
            try send("login", from: "198.51.100.4")
            for _ in 0..<3 { try send("login-failed", from: "203.0.113.9") }
            try send("login", from: "203.0.113.9")

            let live = try cli(["query", "--verdict", "success-after-failures", "--format", "jsonl"], socket: socket)
            #expect(try Self.codes(live.out) == [["first-seen-source", "success-after-failures"]])
            let table = try cli(["query", "--signal", "login"], socket: socket).out
            #expect(
                table.contains(
                    "\n  ! success-after-failures: login of root from 203.0.113.9 after failed logins within 600 s: "
                        + "3 failures against root, the last from 203.0.113.9; 3 failures from 203.0.113.0/24, "
                        + "the last against root\n"), "\(table)")

            let replayed = try cli(["verdicts", "--since", "-1h", "--format", "jsonl"], socket: socket)
            #expect(replayed.out == live.out)
            let explained = try cli(["verdicts", "--explain"], socket: socket).out
            #expect(explained.contains("  ! first-seen-source: first login of root from 203.0.113.9"))
            #expect(explained.hasSuffix("\n1 login judged: 1 first-seen-source, 1 success-after-failures\n"))
            let brief = try cli(["verdicts"], socket: socket).out
            #expect(brief.contains("\n  ! success-after-failures\n"), "\(brief)")
            #expect(try cli(["verdicts", "--until", "-1h"], socket: socket).status == 1)

            // Other values, tried on the file before the daemon runs with them.
            let trial = daemon.directory.file("trial.conf")
            try "[Verdicts]\nEnabled=first-seen-source success-after-failures\nFailureThreshold=4\nLearnLogins=2\n"
                .write(toFile: trial, atomically: true, encoding: .utf8)
            let offline = try cli(
                ["verdicts", "--database", daemon.databasePath, "--config", trial, "--format", "jsonl"], socket: socket)
            #expect(try Self.codes(offline.out) == [["first-seen-source"]], "\(offline)")
            let usage = try cli(["verdicts", "--config", trial], socket: socket)
            #expect(
                usage.status == 64 && usage.err.contains("--config applies to --database and --journal-directory only"))
        }
    }
}
