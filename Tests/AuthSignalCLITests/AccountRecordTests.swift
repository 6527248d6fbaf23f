import Foundation
import SpawnSupport
import TestSupport
import Testing

/// The records of each line of `query --format jsonl`.
private func records(_ socket: String, _ arguments: [String] = []) throws -> [[String: Any]] {
    try cli(["query", "--format", "jsonl"] + arguments, socket: socket).out.split(separator: "\n").map {
        try object(String($0))
    }
}

/// What the account records a test expects say: signal, user, and for groups the change.
private func summary(_ record: [String: Any]) -> String {
    let request = record["request"] as? [String: Any] ?? [:]
    let change = (request["change"] as? String).map { " \($0) \(request["group"] as? String ?? "?")" } ?? ""
    return "\(record["signal"] as? String ?? "?") \(record["user"] as? String ?? "-")\(change)"
}

extension SpawnedTests {
    /// The daemon's own records: its lifecycle (PCI DSS 10.2.1.6) and the account changes it sees
    /// in the account files (10.2.1.5), which no emitter can forge; and password changes through
    /// PAM's password stack, without the password.
    @Suite struct AccountRecordTests {
        @Test func startStopReloadAndRetentionAreRecordsNoEmitterCanForge() throws {
            let daemon = try DaemonUnderTest(extra: "[Store]\nLifecycleRecords=yes\nMaxRecords=6\n")
            let socket = daemon.socketPath
            try waitFor("daemon_started") { try records(socket).first?["signal"] as? String == "daemon_started" }
            let started = try #require(try records(socket).first)
            #expect(started["sender"] as? String == "authsignald" && started["seq"] as? Int == 1)
            #expect((started["peer"] as? [String: Any])?["pid"] as? Int == Int(daemon.pid))
            #expect((started["request"] as? [String: Any])?["version"] as? String != nil)
            // Its journal copy agrees to the microsecond (what a collector compares field for field).
            try waitFor("the journal copy of daemon_started") {
                let copies = try cli(
                    ["query", "--journal"] + testJournalWriter + ["--signal", "start", "--format", "jsonl"],
                    socket: "/nonexistent"
                ).out.split(separator: "\n").map { try object(String($0)) }
                guard let copy = copies.first(where: { $0["hash"] as? String == started["hash"] as? String }) else {
                    return false
                }
                #expect(copy["time"] as? String == started["time"] as? String, "\(copy) \(started)")
                return true
            }
            // An emitter, even root, cannot write one: the log's record of a gap cannot be forged.
            let forged = try cli(
                ["send", "--json"], socket: socket,
                stdin: #"{"op":"emit","signal":"daemon_stopped","sender":"authsignald","user":"root"}"# + "\n")
            #expect(forged.out.contains("daemon_stopped is recorded by authsignald itself and cannot be sent"))
            for index in 1...7 {
                #expect(try cli(["send", "login", "--user", "u\(index)"], socket: socket).status == 0)
            }
            try daemon.writeConfig(
                extra: "[Store]\nLifecycleRecords=yes\nMaxRecords=6\n[Journal]\nAnchorEveryRecords=7\n")
            daemon.signal(SIGHUP)
            try waitFor("config_reloaded") { try records(socket, ["--signal", "reload"]).count == 1 }
            let reload = try #require(try records(socket, ["--signal", "reload"]).first)
            #expect((reload["request"] as? [String: Any])?["changed"] as? [String] == ["Journal.AnchorEveryRecords"])
            #expect(daemon.stop() == 0)
            // Read offline: the stop is the last record, durable before the log closed.
            let offline = try cli(["query", "--database", daemon.databasePath, "--format", "jsonl"], socket: "/x")
            let stored = try offline.out.split(separator: "\n").map { try object(String($0)) }
            #expect(stored.last?["signal"] as? String == "daemon_stopped", "\(offline.out)")
            // At the next start retention (MaxRecords=6) prunes, and says so in a record.
            try daemon.start()
            try waitFor("retention_ran") { try records(socket, ["--signal", "retention"]).count == 1 }
            let retention = try #require(try records(socket, ["--signal", "retention"]).first)
            let request = try #require(retention["request"] as? [String: Any])
            #expect((request["removed"] as? Int ?? 0) > 0 && (request["oldest_seq"] as? Int ?? 0) > 1, "\(request)")
            #expect(try records(socket, ["--signal", "start"]).count == 1, "the first start was pruned")
            #expect(try cli(["verify"], socket: socket).out.contains("chain intact"))
            let kept = try records(socket).count
            try expectValidExports(socket: socket, directory: daemon.directory, count: kept)
        }

        @Test func accountFileChangesAreRecordedEvenWhileTheDaemonIsStopped() throws {
            let files = try TemporaryDirectory()
            let canary = "$6$Canary-Salt-\(UInt32.random(in: 0...UInt32.max))$NeverStoredHash"
            func write(_ name: String, _ text: String) throws {
                try text.write(toFile: files.file(name), atomically: true, encoding: .utf8)
            }
            let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
            let shadow = "root:\(canary):20000:0:99999:7:::\nalice:\(canary):20000:0:99999:7:::\n"
            try write("passwd", passwd)
            try write("shadow", shadow)
            try write("group", "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\n")
            try write("gshadow", "root:*::\nsudo:*::alice\nalice:!::\n")
            let settings = """
                [Accounts]
                Watch=yes
                PasswdFile=\(files.file("passwd"))
                ShadowFile=\(files.file("shadow"))
                GroupFile=\(files.file("group"))
                GShadowFile=\(files.file("gshadow"))

                """
            let daemon = try DaemonUnderTest(extra: settings)
            let socket = daemon.socketPath
            // The first look is the baseline: nothing is recorded for what was already there.
            try waitFor("the first snapshot") {
                FileManager.default.fileExists(atPath: daemon.databasePath + ".accounts")
            }
            #expect(try records(socket).isEmpty)

            try write("passwd", passwd + "eve:x:1001:1001::/home/eve:/bin/sh\n")
            try write("shadow", shadow + "eve:\(canary):20000:0:99999:7:::\n")
            try waitFor("eve added") { try records(socket).count == 1 }
            try write("shadow", shadow + "eve:!\(canary):20000:0:99999:7:::\n")
            try write("group", "root:x:0:\nsudo:x:27:alice,eve\nalice:x:1000:\n")
            try waitFor("eve locked and in sudo") { try records(socket).count == 3 }
            try write("shadow", shadow + "eve:\(canary):20000:0:99999:7:::\n")
            try waitFor("eve unlocked") { try records(socket).count == 4 }
            // While the daemon is stopped, eve goes and frank comes: both recorded at the next start.
            #expect(daemon.stop() == 0)
            try write("passwd", passwd + "frank:x:1002:1002::/home/frank:/bin/sh\n")
            try write("shadow", shadow + "frank:\(canary):20000:0:99999:7:::\n")
            try write("group", "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\n")
            try daemon.start()
            try waitFor("the changes made while stopped") { try records(socket).count == 7 }
            let all = try records(socket)
            #expect(
                all.map(summary) == [
                    "account_added eve", "account_locked eve", "group_membership_changed eve added sudo",
                    "account_unlocked eve", "account_added frank", "group_membership_changed eve removed sudo",
                    "account_removed eve",
                ], "\(all.map(summary))")
            #expect(all.allSatisfy { $0["sender"] as? String == "authsignald" })
            #expect((all[0]["request"] as? [String: Any])?["uid"] as? Int == 1001)

            // No hash anywhere: not in the snapshot, the audit log, or the exports.
            for file in [daemon.databasePath + ".accounts", daemon.databasePath, daemon.databasePath + "-wal"] {
                let data = FileManager.default.contents(atPath: file) ?? Data()
                #expect(data.range(of: Data("Canary-Salt".utf8)) == nil, "\(file)")
            }
            try expectValidExports(socket: socket, directory: daemon.directory, count: 7)
            let forged = try cli(
                ["send", "--json"], socket: socket,
                stdin: #"{"op":"emit","signal":"account_added","sender":"useradd","user":"mallory"}"# + "\n")
            #expect(forged.out.contains("account_added is recorded by authsignald itself and cannot be sent"))
        }

        /// PAM's password stack through the native module: a change, and a failed one (the two new
        /// passwords differ), each recorded with the account and the service; neither password
        /// reaches the log, the journal's copy, or the spool.
        @Test func passwordChangesThroughPAMAreRecordedWithoutThePassword() throws {
            guard isRoot, FileManager.default.isExecutableFile(atPath: "/usr/bin/pamtester") else {
                try Test.cancel("needs root and pamtester")
            }
            let daemon = try DaemonUnderTest()
            let socket = daemon.socketPath
            let account = "authsignal-pw"
            if getpwnam(account) == nil {
                #expect(
                    try runCommand("/usr/sbin/useradd", ["--no-create-home", "--shell", "/bin/sh", account]).status == 0
                )
            }
            defer { _ = try? runCommand("/usr/sbin/userdel", [account]) }
            let module = "\(try nativeModule()) socket=\(socket) spool=\(daemon.spoolPath)"
            let service = "authsignal-pw-\(getpid())"
            try """
            auth     required                    pam_permit.so
            account  required                    pam_permit.so
            password [success=2 default=ignore]  pam_unix.so obscure yescrypt
            password [default=ignore]            \(module) failed
            password requisite                   pam_deny.so
            password required                    pam_permit.so
            password optional                    \(module)

            """.write(toFile: "/etc/pam.d/\(service)", atomically: true, encoding: .utf8)
            defer { unlink("/etc/pam.d/\(service)") }
            let pam = try PAMService(auth: "required pam_permit.so", session: "optional pam_permit.so")
            pam.remove()
            let good = "Canary-New-\(UInt32.random(in: 0...UInt32.max))"
            let changed = try pam.run(
                ["/usr/bin/pamtester", service, account, "chauthtok"], password: "\(good)\n\(good)")
            #expect(changed.status == 0, "\(changed.output)")
            let mismatch = try pam.run(
                ["/usr/bin/pamtester", service, account, "chauthtok"], password: "\(good)-A\n\(good)-B")
            #expect(mismatch.status != 0)
            try waitFor("two password records") { try records(socket).count == 2 }
            let stored = try records(socket)
            #expect(stored.map { $0["signal"] as? String } == ["password_changed", "password_change_failed"])
            #expect(stored.allSatisfy { $0["user"] as? String == account && $0["sender"] as? String == service })
            #expect(stored.allSatisfy { ($0["request"] as? [String: Any])?["pairing"] == nil })
            for file in [daemon.databasePath, daemon.databasePath + "-wal"] {
                let data = FileManager.default.contents(atPath: file) ?? Data()
                #expect(data.range(of: Data("Canary-New".utf8)) == nil, "\(file)")
            }
            try expectValidExports(socket: socket, directory: daemon.directory, count: 2)
            // A password record is neither a failure for lastlog nor the end of a session.
            let lastlog = try cli(["lastlog", "--user", account, "--format", "jsonl"], socket: socket)
            #expect(lastlog.status == 1 && lastlog.out.isEmpty, "no login or failure to show: \(lastlog)")
            #expect(try cli(["send", "login", "--user", "bob", "--sender", "passwd"], socket: socket).status == 0)
            let emitted = try cli(
                ["send", "--json"], socket: socket,
                stdin: #"{"op":"emit","signal":"password_changed","sender":"passwd","user":"bob"}"# + "\n")
            #expect(emitted.status == 0, "\(emitted)")
            #expect(try cli(["last", "--open", "--user", "bob"], socket: socket).out.contains("still logged in"))
            let journal = try runCommand(
                "/bin/sh", ["-c", "journalctl -o export _PID=\(daemon.pid) | grep -ac Canary-New"])
            #expect(journal.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }
}
