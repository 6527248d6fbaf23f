import AuthSignalClient
import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    @Suite struct CLITests {
        /// Both programs print the release from debian/changelog, the one place it is written,
        /// as dpkg reads it.
        @Test func versionIsTheChangelogs() throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().path
            let parsed = try runCommand(
                "/usr/bin/dpkg-parsechangelog", ["-l", root + "/debian/changelog", "-S", "Version"])
            let version = parsed.output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(parsed.status == 0 && !version.isEmpty, "\(parsed.output)")
            #expect(try cli(["--version"], socket: "/nonexistent").out == version + "\n")
            let daemon = try runCommand(buildDirectory + "/authsignald", ["--version"])
            #expect(daemon.output == version + "\n")
        }

        @Test func sendQueryFormatsAndExitCodes() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            let first = try cli(
                [
                    "send", "login-failed", "--user", "root", "--sender", "sshd", "--remote-addr", "203.0.113.7",
                    "--credential", "password=@-", "--credential", "username=root", "--id", "pam-1",
                ], socket: socket, stdin: "hunter2\n")
            #expect(first.status == 0)
            #expect(first.out == "seq 1\n")
            let again = try cli(["send", "login-failed", "--user", "root", "--id", "pam-1"], socket: socket)
            #expect(again.out == "seq 1 (duplicate: stored before)\n")
            // A hostile address with terminal escapes and a comma-and-quote sender.
            let hostile = try cli(
                ["send", "login", "--user", "alice", "--sender", "we\"b,app", "--remote-addr", "\u{1B}[2J\u{9B}31m"],
                socket: socket)
            #expect(hostile.out == "seq 2\n", "\(hostile)")

            // A secret on argv is refused before anything is sent, without repeating it.
            let refused = try cli(
                ["send", "login-failed", "--user", "x", "--credential", "password=hunter3"], socket: socket)
            #expect(refused.status == 64)
            #expect(refused.err.contains("password=@-"))
            #expect(!refused.err.contains("hunter3"))

            let table = try cli(["query"], socket: socket)
            #expect(table.status == 0)
            let lines = table.out.split(separator: "\n")
            #expect(lines.count == 3)
            #expect(lines[0].hasPrefix("SEQ  RECEIVED"))
            #expect(lines[1].contains("failed") && lines[1].contains("203.0.113.7"))
            #expect(lines[2].contains("\\x1b[2J\\x9b31m"), "\(lines[2])")
            #expect(!table.out.contains("\u{1B}"))

            let csv = try cli(["query", "--format", "csv", "--signal", "login"], socket: socket)
            let csvLines = csv.out.split(separator: "\n")
            #expect(csvLines[0].hasPrefix("seq,received,time,signal,sender,user,remote_addr"))
            #expect(csvLines[1].contains(",\"we\"\"b,app\",alice,"))

            let jsonl = try cli(["query", "--format", "jsonl", "--signal", "failed"], socket: socket)
            let record = try object(String(jsonl.out.split(separator: "\n")[0]))
            let credentials = try #require(record["credentials"] as? [String: Any])
            let keyedHash = try #require(credentials["password"] as? String)
            #expect(keyedHash.hasPrefix("hmac-sha256:"))
            // `hash` answers "did this password appear?" with the daemon's key.
            let hash = try cli(["hash", "--key-file", daemon.keyPath], socket: socket, stdin: "hunter2\n")
            #expect(hash.out == keyedHash + "\n")

            let json = try cli(["query", "--format", "json", "--reverse", "--limit", "1"], socket: socket)
            let array = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]]
            #expect(array?.count == 1)
            #expect(array?.first?["seq"] as? Int == 2)

            let none = try cli(["query", "--user", "nobody"], socket: socket)
            #expect(none.status == 1)
            #expect(none.out.isEmpty)
            let since = try cli(["query", "--since=-1h", "--until", "tomorrow"], socket: socket)
            #expect(since.out.split(separator: "\n").count == 3)
            let future = try cli(["query", "--since", "tomorrow"], socket: socket)
            #expect(future.status == 1)

            #expect(try cli(["verify"], socket: socket).out.hasPrefix("chain intact: 2 records verified\n"))
            #expect(try cli(["stats"], socket: socket).out.contains("records.total: 2\n"))
            #expect(try cli(["ping"], socket: socket).out.contains("speaks protocol 1"))
            let down = try cli(["ping"], socket: daemon.directory.path + "/missing.sock")
            #expect(down.status == 3)
            #expect(down.err.contains("cannot connect"))
        }

        /// A daemon at `MaxConnections` answers `unavailable` and closes; the CLI says why, whether
        /// its request went out before the daemon closed or not (root is exempt, so another account).
        @Test func pingSaysWhyTheDaemonRefusedTheConnection() throws {
            guard isRoot else { return }
            _ = try requireTestAccount()
            let limited = try DaemonUnderTest(extra: "[Socket]\nMaxConnections=2\n")
            // The daemon may not have seen the start-up probe's connection close yet: retry.
            let held = try (0..<2).map { _ in try connectedClient(limited.socketPath) }
            let third = try requestAs(testAccount, socket: limited.socketPath, [#"{"op":"ping"}"#])
            #expect(third.count == 1 && errorCode(third[0]) == "unavailable", "\(third)")
            let refused = try runCommand(
                "/usr/bin/setpriv",
                [
                    "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath, "ping",
                    "--socket", limited.socketPath,
                ])
            #expect(refused.status == 3 && refused.output.contains("(MaxConnections=2)"), "\(refused)")
            withExtendedLifetime(held) {}
        }

        @Test func timeOptionsTakeADashedValueAsASeparateArgument() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            let sent = try cli(["send", "login", "--user", "alice", "--time", "-5min"], socket: socket)
            #expect(sent.status == 0 && sent.out == "seq 1\n", "\(sent)")
            let recent = try cli(["query", "--since", "-1h", "--until", "-30min", "--format", "jsonl"], socket: socket)
            #expect(recent.status == 1, "\(recent)")  // received now, after --until
            let hour = try cli(["query", "--since", "-1h", "--format", "jsonl"], socket: socket)
            #expect(hour.status == 0 && hour.out.contains(#""user":"alice""#), "\(hour)")
            let report = try cli(["report", "--since", "-2h", "--until", "+1h"], socket: socket)
            #expect(report.status == 0 && report.out.contains("Records: 1\n"), "\(report)")
        }

        @Test func hashedNamesAreAbbreviatedAndFoundByNameForTheHashClass() throws {
            // The reader account must exist before the daemon resolves [Access].
            let hasReader = isRoot && (try? requireTestAccount()) != nil
            let daemon = try DaemonUnderTest(extra: "[Access]\nReadUsers=\(testAccount) root\n")
            let socket = daemon.socketPath
            let ghost = "ghost-\(UUID().uuidString.prefix(6).lowercased())"  // no account has this name
            for _ in 0..<2 {
                let sent = try cli(
                    ["send", "login-failed", "--user", ghost, "--sender", "sshd", "--remote-addr", "192.0.2.7"],
                    socket: socket)
                #expect(sent.status == 0, "\(sent)")
            }
            _ = try cli(["send", "login", "--user", "root", "--sender", "sshd"], socket: socket)
            let hash = try cli(["hash"], socket: socket, stdin: ghost + "\n").out.trimmingCharacters(in: .newlines)
            let short = "#" + hash.dropFirst("hmac-sha256:".count).prefix(8)
            // Tables and reports show the hash abbreviated, with a legend; JSON keeps it whole.
            let table = try cli(["query"], socket: socket)
            #expect(table.out.contains(" \(short) ") && !table.out.contains(hash), "\(table.out)")
            #expect(table.out.contains("#…: a name that is no account"))
            let jsonl = try cli(["query", "--format", "jsonl"], socket: socket)
            #expect(jsonl.out.contains(#""user":"\#(hash)""#))
            let report = try cli(["report", "--since", "-1h"], socket: socket)
            #expect(report.out.contains("        2  \(short)\n") && report.out.contains("#…: a name"), "\(report.out)")
            // Root (in the hash class) finds the records by the name itself.
            let byName = try cli(["query", "--user", ghost, "--format", "jsonl"], socket: socket)
            #expect(byName.status == 0 && byName.out.split(separator: "\n").count == 2, "\(byName)")
            let limited = try cli(
                ["query", "--user", ghost, "--limit", "1", "--reverse", "--format", "csv"], socket: socket)
            #expect(limited.out.split(separator: "\n").count == 2 && limited.out.contains("\n2,"), "\(limited)")
            // A reader outside the hash class gets no hash, so the name finds nothing.
            guard hasReader else { return }
            let asReader = try runCommand(
                "/usr/bin/setpriv",
                [
                    "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath, "query",
                    "--socket", socket, "--user", ghost,
                ])
            #expect(asReader.status == 1, "\(asReader)")
        }

        @Test func bulkSendFromJSONLinesAndFollow() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            let follower = try Follower(["--format", "jsonl", "--signal", "failed", "--socket", socket])
            usleep(500_000)
            let lines = (0..<300).map { index in
                emitLine(index % 3 == 0 ? "user_login_failed" : "user_logged_in", user: "root", id: "bulk-\(index)")
            }
            let bulk = try cli(["send", "--json"], socket: socket, stdin: lines.joined(separator: "\n") + "\n{bad\n")
            #expect(bulk.status == 3)
            let answers = bulk.out.split(separator: "\n")
            #expect(answers.count == 301)
            #expect(answers[299] == "seq 300")
            #expect(answers[300].hasPrefix("line 301: invalid_json"))
            try waitFor("the follower to print 100 records") { follower.read().split(separator: "\n").count >= 100 }
            #expect(follower.stop() == 0)
            #expect(follower.read().split(separator: "\n").allSatisfy { $0.contains(#""signal":"user_login_failed""#) })
        }

        /// `follow --since` through the daemon once replayed nothing (issue 24, item 8): it replays
        /// the stored records from that time, then goes on live, none twice.
        @Test func followSinceReplaysTheStoredRecordsThenGoesOnLive() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            for index in 0..<3 {
                #expect(try cli(["send", "login", "--user", "early\(index)"], socket: socket).status == 0)
            }
            let follower = try Follower(["--since", "-1h", "--format", "jsonl", "--socket", socket])
            try waitFor("the replay") { follower.read().split(separator: "\n").count >= 3 }
            #expect(try cli(["send", "login", "--user", "late"], socket: socket).status == 0)
            try waitFor("the live record") { follower.read().contains(#""user":"late""#) }
            #expect(follower.stop() == 0)
            let followed = follower.read()
            let users = followed.split(separator: "\n").compactMap { (try? object(String($0)))?["user"] as? String }
            #expect(users == ["early0", "early1", "early2", "late"], "\(followed)")
        }

        @Test func reportCountsTopListsAndAttackHints() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            for index in 0..<6 {
                _ = try cli(
                    [
                        "send", "login-failed", "--user", "root", "--remote-addr", "198.51.100.66", "--credential",
                        "password=@-",
                    ],
                    socket: socket, stdin: "guess\(index)\n")
            }
            for account in ["daemon", "bin", "sys"] {
                _ = try cli(
                    [
                        "send", "login-failed", "--user", account, "--remote-addr", "203.0.113.50", "--credential",
                        "password=@-",
                    ],
                    socket: socket, stdin: "Winter2026\n")
            }
            _ = try cli(["send", "login", "--user", "alice"], socket: socket)
            let report = try cli(["report", "--since", "1 hours ago"], socket: socket)
            #expect(report.status == 0, "\(report.err)")
            #expect(report.out.contains("Records: 10\n"))
            #expect(report.out.contains("  failed  9\n"))
            #expect(report.out.contains("        6  root\n"))
            #expect(report.out.contains("        6  198.51.100.66\n"))
            #expect(report.out.contains("root: 6 failures from "))
            #expect(report.out.contains(": 3 accounts\n"))
            #expect(!report.out.contains("Winter2026"))
            let quiet = try cli(
                ["report", "--since", "1 hours ago", "--threshold", "7", "--spray-accounts", "4"], socket: socket)
            #expect(!quiet.out.contains("brute force"))
            #expect(!quiet.out.contains("spraying"))
        }
    }
}

extension SpawnedTests {
    /// Real PAM: pamtester against a service that uses pam_unix and the authsignal hook.
    @Suite struct PAMTests {
        @Test func loginFailureSessionAndNoPasswordAnywhere() throws {
            let daemon = try DaemonUnderTest()
            let pam = try PAMService(hook: "\(cliPath) pam --socket \(daemon.socketPath)")
            defer { pam.remove() }
            #expect(try pam.run(PAMService.wrong, ["authenticate"]).status != 0)
            #expect(try pam.run(PAMService.password, ["authenticate", "open_session", "close_session"]).status == 0)

            let query = try cli(
                ["query", "--user", PAMService.account, "--format", "jsonl"], socket: daemon.socketPath)
            let records = try query.out.split(separator: "\n").map { try object(String($0)) }
            #expect(
                records.map { $0["signal"] as? String } == ["user_login_failed", "user_logged_in", "user_logged_out"])
            for record in records {
                let request = record["request"] as? [String: Any]
                #expect(request?["remote_addr"] as? String == "203.0.113.7")
                #expect(request?["service"] as? String == pam.service)
                #expect(record["sender"] as? String == pam.service)
            }
            // The login and the logout carry one session key; it names this boot and pamtester's pid.
            let sessions = records.map { ($0["request"] as? [String: Any])?["pairing"] as? String }
            let boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(sessions[0] == nil)
            #expect(sessions[1] != nil && sessions[1] == sessions[2], "\(sessions)")
            #expect(
                sessions[1]?.hasPrefix(boot + "/") == true && sessions[1]?.hasSuffix("/\(pam.service)/pts/9") == true,
                "\(sessions[1] ?? "") \(boot)")
            #expect(daemon.stop() == 0)
            var places: [String: Data] = ["daemon output": Data(daemon.log.utf8), "query": Data(query.out.utf8)]
            for suffix in ["", "-wal", "-shm"] {
                places["audit.db\(suffix)"] =
                    FileManager.default.contents(atPath: daemon.databasePath + suffix) ?? Data()
            }
            if FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
                let export = try runCommand("/usr/bin/journalctl", ["-o", "export", "--since", "-10min", "--no-pager"])
                places["journalctl -o export"] = Data(export.output.utf8)
            }
            for (place, data) in places {
                #expect(data.range(of: Data(PAMService.wrong.utf8)) == nil, "the wrong password reached \(place)")
                #expect(data.range(of: Data(PAMService.password.utf8)) == nil, "the password reached \(place)")
            }
        }
    }
}

extension SpawnedTests.PAMTests {
    /// `last` pairs a real PAM session by its key, `lastlog` counts the failures, and the login
    /// notice shows both to the user logging in, through real PAM; a stopped daemon neither
    /// blocks nor fails the login, and the notice is then skipped.
    @Test func lastLastlogAndTheLoginNoticeThroughRealPAM() throws {
        let daemon = try DaemonUnderTest(extra: "[Verdicts]\nLearnLogins=1\nFailureThreshold=2\n")
        let hook = "\(cliPath) pam --socket \(daemon.socketPath)"
        let pam = try PAMService(hook: hook, sessionHook: hook + " --notice")
        defer { pam.remove() }
        let before = try cli(["lastlog", "--user", PAMService.account, "--format", "jsonl"], socket: daemon.socketPath)
        let earlierFailures = before.out.isEmpty ? 0 : (try object(before.out)["failures"] as? Int ?? 0)
        for _ in 0..<2 { #expect(try pam.run(PAMService.wrong, ["authenticate"]).status != 0) }
        let first = try pam.run(PAMService.password, ["authenticate", "open_session", "close_session"])
        #expect(first.status == 0)
        #expect(first.output.contains("2 failed login attempts since the "), "\(first.output)")
        #expect(try pam.run(PAMService.wrong, ["authenticate"]).status != 0)
        let second = try pam.run(PAMService.password, ["authenticate", "open_session", "close_session"])
        #expect(second.status == 0)
        #expect(second.output.contains("Last login: "), "\(second.output)")
        #expect(second.output.contains(" from 203.0.113.7 via \(pam.service)"), "\(second.output)")
        #expect(
            second.output.contains("1 failed login attempt since the last login (last from 203.0.113.7 at "),
            "\(second.output)")
        // The failures by source, and the period's counts (NIST AC-9 (2)); not a new source.
        #expect(second.output.contains("\nBy source: 1 from 203.0.113.0/24.\n"), "\(second.output)")
        #expect(second.output.contains("\nIn the last 30 days: 1 login, 3 failed login attempts.\n"))
        #expect(!second.output.contains("first login to this account"), "\(second.output)")

        let last = try cli(["last", "--user", PAMService.account, "--format", "jsonl"], socket: daemon.socketPath)
        let sessions = try last.out.split(separator: "\n").map { try object(String($0)) }
        let mine = sessions.filter { $0["service"] as? String == pam.service }
        #expect(mine.count == 2, "\(last.out)")
        for session in mine {
            #expect(session["status"] as? String == "ended")
            #expect(session["pairing"] as? String == "key")
            #expect(session["tty"] as? String == "pts/9")
            #expect(session["from"] as? String == "203.0.113.7")
            #expect(session["logout_seq"] as? Int ?? 0 > session["login_seq"] as? Int ?? 0)
        }
        let table = try cli(["last", "--user", PAMService.account, "--limit", "1"], socket: daemon.socketPath)
        #expect(table.out.hasPrefix("USER "), "\(table.out)")
        #expect(table.out.split(separator: "\n").count == 2, "\(table.out)")
        let lastlog = try cli(
            ["lastlog", "--user", PAMService.account, "--format", "jsonl"], socket: daemon.socketPath)
        let account = try object(lastlog.out)
        #expect(account["failures_since_login"] as? Int == 0)
        #expect(account["failures"] as? Int == earlierFailures + 3)
        #expect((account["last_login"] as? [String: Any])?["from"] as? String == "203.0.113.7")

        // From a network the account never logged in from: the notice says so, and the login's
        // record carries the verdict.
        let elsewhere = try pam.run(
            PAMService.password, ["authenticate", "open_session", "close_session"], rhost: "198.51.100.23")
        #expect(
            elsewhere.output.contains("\nThis is the first login to this account from 198.51.100.0/24.\n"),
            "\(elsewhere.output)")
        let judged = try cli(
            ["query", "--verdict", "first-seen-source", "--format", "jsonl"], socket: daemon.socketPath)
        #expect(judged.out.split(separator: "\n").count == 1 && judged.out.contains("198.51.100.23"), "\(judged)")
        // The first login followed two failures, the threshold; the second only one.
        let afterFailures = try cli(
            ["query", "--verdict", "success-after-failures", "--format", "jsonl"], socket: daemon.socketPath)
        let flagged = try afterFailures.out.split(separator: "\n").map { try object(String($0)) }
        #expect(flagged.count == 1 && flagged.first?["user"] as? String == PAMService.account, "\(afterFailures)")

        #expect(daemon.stop() == 0)
        let stopped = try pam.run(PAMService.password, ["authenticate", "open_session"])
        #expect(stopped.status == 0)
        #expect(!stopped.output.contains("Last login"), "\(stopped.output)")
        // The notice's 300 ms and the event's 500 ms bounds, with room for a loaded machine.
        #expect(stopped.elapsed < .seconds(5), "\(stopped.elapsed)")
    }
}

/// A real PAM service for tests: a real account with a password, and `/etc/pam.d/<service>`
/// using pam_unix and an authsignal hook the way docs/pam.md says: the `authsignal pam` hook
/// through pam_exec (with `expose_authtok`, so that the hook is handed the password and must not
