import AuthSignalProtocol
import Foundation
import SpawnSupport
import TestSupport
import Testing

/// Runs the CLI with `TZ=UTC` (to compare with util-linux in the same zone).
private func cliUTC(_ arguments: [String], socket: String) throws -> (status: Int32, output: String) {
    try runCommand("/usr/bin/env", ["TZ=UTC", "NO_COLOR=1", "AUTHSIGNAL_SOCKET=\(socket)", cliPath] + arguments)
}

extension SpawnedTests {
    /// `who`, `lastb` and `lastlog --inactive`: what utmp, btmp and lastlog answered before current
    /// Debian stopped keeping them, from real PAM sessions and an imported btmp.
    @Suite struct UtmpSuccessorTests {
        @Test func whoShowsTheOpenPAMSessionsOnly() throws {
            let daemon = try DaemonUnderTest()
            let module = "\(try nativeModule()) socket=\(daemon.socketPath) spool=\(daemon.spoolPath)"
            let pam = try PAMService(auth: "[default=ignore] \(module)", session: "optional \(module)")
            defer { pam.remove() }
            let socket = daemon.socketPath
            let closed = try pam.run(
                ["/usr/bin/pamtester"] + pam.arguments(["open_session", "close_session"], rhost: "192.0.2.10"),
                password: PAMService.password)
            // pamtester ends without closing: the session stays open, as an ssh login's does.
            let open = try pam.run(
                ["/usr/bin/pamtester"] + pam.arguments(["open_session"], rhost: "192.0.2.20"),
                password: PAMService.password)
            #expect(closed.status == 0 && open.status == 0, "\(closed.output) \(open.output)")
            try waitFor("three records") {
                try cli(["query", "--format", "jsonl"], socket: socket).out.split(separator: "\n").count == 3
            }
            let table = try cli(["who"], socket: socket)
            let rows = table.out.split(separator: "\n")
            #expect(rows.count == 2, "\(table)")
            #expect(
                rows[0].split(separator: " ", omittingEmptySubsequences: true) == [
                    "USER", "TTY", "FROM", "LOGIN@", "SERVICE",
                ])
            let cells = rows[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            #expect(cells.first == PAMService.account && cells.contains("pts/9") && cells.contains("192.0.2.20"))
            #expect(cells.last == pam.service)
            let json = try object(try cli(["who", "--format", "jsonl"], socket: socket).out)
            #expect(json["status"] as? String == "still_logged_in" && json["pairing"] as? String == "key")
            #expect(try cli(["who", "--user", "nobody-at-all"], socket: socket).status == 1)
        }

        /// The rows util-linux's `lastb -w` prints for a btmp file are the rows `authsignal lastb`
        /// prints once that file is imported; a failure through real PAM follows in the same layout.
        @Test func lastbPrintsAnImportedBtmpAsLastbDoes() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            let btmp = try ImportTests.utmp(ImportTests.btmp, in: daemon.directory, name: "btmp")
            let original = try runCommand("/usr/bin/env", ["TZ=UTC", "lastb", "-w", "-f", btmp])
            #expect(original.status == 0, "\(original.output)")
            #expect(try cli(["import", btmp], socket: socket).status == 0)
            let ours = try cliUTC(["lastb"], socket: socket)
            #expect(ours.status == 0, "\(ours.output)")
            // admin123 is no account: the log keeps its keyed hash (docs/protocol.md), shown abbreviated.
            let hash = try cli(["hash"], socket: socket, stdin: "admin123").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(hash.hasPrefix("hmac-sha256:"), "\(hash)")
            let abbreviated = "#" + hash.dropFirst("hmac-sha256:".count).prefix(8)
            let expected = original.output.split(separator: "\n").filter { $0.contains("(00:00)") }
                .map { $0.replacingOccurrences(of: "admin123 ", with: abbreviated + " ")[...] }
            let printed = ours.output.split(separator: "\n").filter { $0.contains("(00:00)") }
            #expect(printed == expected && expected.count == 3, "lastb:\n\(original.output)\nours:\n\(ours.output)")
            #expect(ours.output.contains("\naudit log begins "))

            let module = "\(try nativeModule()) socket=\(socket) spool=\(daemon.spoolPath)"
            let pam = try PAMService(auth: "[default=ignore] \(module)", session: "optional \(module)")
            defer { pam.remove() }
            #expect(try pam.run(PAMService.wrong, ["authenticate"]).status != 0)
            try waitFor("the PAM failure") { try cliUTC(["lastb"], socket: socket).output.contains("203.0.113.7") }
            let newest = try cliUTC(["lastb", "-n", "1"], socket: socket).output.split(separator: "\n")[0]
            #expect(
                newest.hasPrefix(PAMService.account + " ") && newest.contains(" pts/9 ")
                    && newest.hasSuffix("  (00:00)"))
            let since = try cliUTC(
                ["lastb", "--since", "2026-11-03T01:00:04Z", "--until", "2026-11-04T00:00:00Z"], socket: socket)
            #expect(since.output.split(separator: "\n").filter { $0.contains("(00:00)") }.count == 2, "\(since.output)")
        }

        /// PCI DSS 8.2.6's test: the accounts with no login for 90 days, never-logged-in local ones
        /// included, and neither system accounts nor an account that logged in through PAM.
        @Test func lastlogInactiveListsStaleAndNeverUsedAccounts() throws {
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            let module = "\(try nativeModule()) socket=\(socket) spool=\(daemon.spoolPath)"
            let pam = try PAMService(auth: "[default=ignore] \(module)", session: "optional \(module)")
            defer { pam.remove() }
            let idle = "authsignal-idle"
            if getpwnam(idle) == nil {
                #expect(
                    try runCommand("/usr/sbin/useradd", ["--no-create-home", "--shell", "/bin/sh", idle]).status == 0)
            }
            defer { _ = try? runCommand("/usr/sbin/userdel", [idle]) }
            let active = try pam.run(
                ["/usr/bin/pamtester"] + pam.arguments(["open_session", "close_session"]), password: PAMService.password
            )
            #expect(active.status == 0)
            let stale = Date().addingTimeInterval(-100 * 86400)
            #expect(
                try cli(
                    ["send", "login", "--user", "stale-ldap-user", "--time", RFC3339.format(stale)], socket: socket
                )
                .status == 0)
            #expect(
                try cli(["send", "login", "--user", "recent-ldap-user"], socket: socket).status == 0)
            try waitFor("four records") {
                try cli(["query", "--format", "jsonl"], socket: socket).out.split(separator: "\n").count == 4
            }
            let listed = try cli(["lastlog", "--inactive", "90d", "--format", "jsonl"], socket: socket)
            let users = try listed.out.split(separator: "\n").map { try object(String($0))["user"] as? String }
            #expect(users.contains("stale-ldap-user") && users.contains(idle) && users.contains("root"), "\(listed)")
            #expect(!users.contains(PAMService.account) && !users.contains("recent-ldap-user"))
            #expect(!users.contains("daemon") && !users.contains("nobody"), "system accounts: \(users)")
            // Oldest first: never-logged-in accounts, then the stale login.
            #expect(users.last == "stale-ldap-user")
            let withSystem = try cli(["lastlog", "--inactive", "90d", "--all", "--format", "jsonl"], socket: socket)
            #expect(withSystem.out.contains(#""user":"daemon""#))
            let table = try cli(["lastlog", "--inactive", "12w"], socket: socket).out
            #expect(table.contains("\nno trusted login since ") && table.contains("never logged in"), "\(table)")
            let bad = try cli(["lastlog", "--inactive", "soon"], socket: socket)
            #expect(bad.status == 64 && bad.err.contains("cannot read 'soon' as a span"))
        }
    }
}
