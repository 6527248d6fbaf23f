import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

/// Rewrites the chain of an audit log from a record on, as a forger who knows the hash
/// construction would (scripts/forge-chain): the chain then verifies on its own; only the journal
/// anchors can tell.
private func forgeChain(_ database: String, from seq: Int, user: String) throws -> (status: Int32, output: String) {
    try runCommand("/usr/bin/python3", [repositoryRoot + "/scripts/forge-chain", database, String(seq), user])
}

/// Runs a shell pipeline; returns its status and output.
private func shell(_ script: String) throws -> (status: Int32, output: String) {
    try runCommand("/bin/sh", ["-c", script])
}

/// Runs one SQL statement on the database at `path` (with Python's sqlite3, as a tamperer would).
private func execute(_ sql: String, on path: String) throws -> (status: Int32, output: String) {
    try runCommand(
        "/usr/bin/python3",
        ["-c", "import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); d.execute(sys.argv[2]); d.commit()", path, sql])
}

/// A copy of the stopped daemon's audit log (with its -wal file, if any) in a new directory.
private func copyLog(of daemon: DaemonUnderTest, named name: String) throws -> String {
    let directory = daemon.directory.path + "/" + name
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: daemon.databasePath + suffix) {
        try FileManager.default.copyItem(atPath: daemon.databasePath + suffix, toPath: directory + "/audit.db" + suffix)
    }
    return directory + "/audit.db"
}

/// A shell pipeline printing, in journal export format, the entries `daemon` wrote since it
/// last started (only those with `matching`, a journal match such as `AUTHSIGNAL_SEQ=2`, when
/// given), with `_HOSTNAME` set to `host` as that host's journald would stamp it.
/// The start time keeps out an earlier process's entries under a reused process id.
private func exportCommand(of daemon: DaemonUnderTest, as host: String, matching: String = "") -> String {
    let since = String(format: "@%.6f", daemon.startedAt.timeIntervalSince1970)
    return "journalctl -o export --since \(since) SYSLOG_IDENTIFIER=authsignald _PID=\(daemon.pid) \(matching)"
        + " | sed -e 's/^_HOSTNAME=.*/_HOSTNAME=\(host)/'"
}

/// Waits until the journal holds `count` records of `daemon`, then writes its entries into the
/// collector's file for `host` in `collected`, as systemd-journal-remote receives an upload.
private func collect(_ daemon: DaemonUnderTest, as host: String, records count: Int, into collected: String) throws {
    try waitFor("\(host)'s \(count) journal entries") {
        try shell(exportCommand(of: daemon, as: host) + " | grep -c '^AUTHSIGNAL_SIGNAL='").output
            .hasPrefix("\(count)\n")
    }
    let upload = try shell(
        exportCommand(of: daemon, as: host)
            + " | /lib/systemd/systemd-journal-remote --output=\(collected)/remote-\(host).journal - 2>&1")
    #expect(upload.status == 0, "\(upload.output)")
}

/// A tag unique to this test run, so that records other runs left in the shared journal do not match.
private func runTag() -> String { String(UUID().uuidString.prefix(8)).lowercased() }

/// A daemon that anchors every `anchorEvery` records, holding `count` logins of distinct users
/// named `prefix-N`, once the journal holds the anchor of the last one (anchors are written after
/// commit, by the journal thread: every `anchorEvery` records, or after 1 s).
private func anchoredDaemon(count: Int, anchorEvery: Int, prefix: String) throws -> DaemonUnderTest {
    let daemon = try DaemonUnderTest(extra: "AnchorEveryRecords=\(anchorEvery)\n")
    for index in 1...count {
        #expect(try cli(["send", "login", "--user", "\(prefix)-\(index)"], socket: daemon.socketPath).status == 0)
    }
    try waitFor("the journal anchors") {
        try cli(["verify"] + testJournalWriter, socket: daemon.socketPath).out.contains(
            "agrees with the newest (record \(count))")
    }
    return daemon
}

extension SpawnedTests {
    @Suite struct HistoryTests {
        @Test func offlineDatabaseQueryAndVerifyAgainstJournalAnchors() throws {
            let tag = runTag()
            let daemon = try anchoredDaemon(count: 10, anchorEvery: 4, prefix: "offline-\(tag)")
            #expect(daemon.stop() == 0)

            let copy = try copyLog(of: daemon, named: "copy")
            let before = try Data(contentsOf: URL(fileURLWithPath: copy))
            let all = try cli(["query", "--database", copy, "--format", "jsonl"], socket: "/nonexistent")
            #expect(all.status == 0, "\(all)")
            #expect(all.out.split(separator: "\n").count == 10)
            let one = try cli(["query", "--database", copy, "--user", "offline-\(tag)-3"], socket: "/nonexistent")
            #expect(one.out.split(separator: "\n").count == 2 && one.out.contains("offline-\(tag)-3"))
            #expect(
                try cli(["query", "--database", copy, "--user", "nobody-\(tag)"], socket: "/nonexistent").status == 1)
            let intact = try cli(["verify"] + testJournalWriter + ["--database", copy], socket: "/nonexistent")
            #expect(intact.status == 0, "\(intact)")
            #expect(intact.out.contains("chain intact: 10 records verified"))
            #expect(intact.out.contains("found for log") && intact.out.contains("(record 10)"), "\(intact.out)")
            let stats = try cli(["stats", "--database", copy], socket: "/nonexistent")
            #expect(stats.out.contains("records.total: 10\n") && stats.out.contains("last_seq: 10\n"), "\(stats)")
            #expect(
                stats.out.contains("log_id: ")
                    && intact.out.contains(stats.out.split(separator: "log_id: ")[1].prefix(32)))
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before, "read-only use changed the file")

            // Cut off the last records: the chain alone is still consistent, the anchors are not.
            let cut = try copyLog(of: daemon, named: "cut")
            #expect(try execute("DELETE FROM records WHERE seq > 7", on: cut).status == 0)
            #expect(
                try cli(["verify"] + testJournalWriter + ["--database", cut, "--no-journal"], socket: "/nonexistent")
                    .status == 0)
            let truncated = try cli(["verify"] + testJournalWriter + ["--database", cut], socket: "/nonexistent")
            #expect(truncated.status == 5)
            #expect(truncated.out.contains("TAMPERED: first bad record 8: the log was truncated"), "\(truncated.out)")

            // Edit a record and rewrite the chain after it, as a forger who knows the hash would.
            let forged = try copyLog(of: daemon, named: "forged")
            let forgery = try forgeChain(forged, from: 3, user: "mallory")
            #expect(forgery.status == 0, "\(forgery.output)")
            #expect(
                try cli(
                    ["verify"] + testJournalWriter + ["--database", forged, "--no-journal"], socket: "/nonexistent"
                ).status == 0)
            let rewritten = try cli(["verify"] + testJournalWriter + ["--database", forged], socket: "/nonexistent")
            #expect(rewritten.status == 5)
            #expect(rewritten.out.contains("differs from the hash anchored in the journal"), "\(rewritten)")

            // A plain edit is caught by the chain itself.
            let edited = try copyLog(of: daemon, named: "edited")
            #expect(try execute("UPDATE records SET user = 1 WHERE seq = 6", on: edited).status == 0)
            let editedRun = try cli(["verify"] + testJournalWriter + ["--database", edited], socket: "/nonexistent")
            #expect(editedRun.status == 5)
            #expect(editedRun.out.contains("record 6 was modified"))

            let missing = try cli(
                ["verify"] + testJournalWriter + ["--database", daemon.directory.path + "/none.db"],
                socket: "/nonexistent")
            #expect(missing.status == 3)
            #expect(missing.err.contains("no such file"))
        }

        @Test func daemonVerifyCatchesAChainRewrittenUnderIt() throws {
            let daemon = try anchoredDaemon(count: 6, anchorEvery: 2, prefix: "live-\(runTag())")
            let socket = daemon.socketPath
            let forgery = try forgeChain(daemon.databasePath, from: 5, user: "mallory")
            #expect(forgery.status == 0, "\(forgery.output)")
            #expect(try cli(["verify"] + testJournalWriter + ["--no-journal"], socket: socket).status == 0)
            let caught = try cli(["verify"] + testJournalWriter, socket: socket)
            #expect(caught.status == 5)
            #expect(caught.out.contains("record 6 differs from the hash anchored in the journal"), "\(caught.out)")
        }

        @Test func fleetHistoryFromJournalFilesOfTwoHosts() throws {
            let tag = runTag()
            let web1 = try DaemonUnderTest()
            let web2 = try DaemonUnderTest()
            for index in 1...3 {
                #expect(
                    try cli(["send", "login", "--user", "w1-\(tag)-\(index)"], socket: web1.socketPath).status == 0)
            }
            for _ in 1...2 {
                let failed = try cli(
                    [
                        "send", "login-failed", "--user", "root", "--sender", "sshd-\(tag)", "--remote-addr",
                        "203.0.113.9",
                    ],
                    socket: web1.socketPath)
                #expect(failed.status == 0)
            }
            for index in 1...4 {
                #expect(
                    try cli(["send", "logout", "--user", "w2-\(tag)-\(index)"], socket: web2.socketPath).status == 0)
            }
            // This host's journal, read directly, once both daemons' journal threads have written
            // their last entries (each daemon's own, so one may lag the other).
            try waitFor("the journal entries") {
                try cli(
                    ["query", "--journal"] + testJournalWriter + ["--user", "w2-\(tag)-4"], socket: "/nonexistent"
                ).status == 0
                    && cli(
                        ["query", "--journal", "--format", "jsonl"] + testJournalWriter + ["--sender", "sshd-\(tag)"],
                        socket: "/nonexistent"
                    ).out.split(separator: "\n").count == 2
            }
            let local = try cli(
                ["query", "--journal"] + testJournalWriter + ["--format", "jsonl", "--user", "w1-\(tag)-2"],
                socket: "/nonexistent")
            #expect(local.out.split(separator: "\n").count == 1 && local.out.contains(#""seq":2"#), "\(local)")

            // What systemd-journal-remote collects from two hosts: each daemon's entries, exported with
            // that host's name (journald stamps _HOSTNAME; here both ran on one machine).
            let collected = web1.directory.path + "/collected"
            try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
            for (daemon, host) in [(web1, "web1"), (web2, "web2")] {
                let upload = try shell(
                    exportCommand(of: daemon, as: host)
                        + " | /lib/systemd/systemd-journal-remote --output=\(collected)/remote-\(host).journal - 2>&1")
                #expect(upload.status == 0, "\(upload.output)")
            }
            let directory = ["--journal-directory", collected, "--journal-unit", "none", "--journal-uid", "0"]
            let fleet = try cli(["query", "--format", "jsonl"] + directory, socket: "/nonexistent")
            #expect(fleet.status == 0, "\(fleet)")
            let records = try fleet.out.split(separator: "\n").map { try object(String($0)) }
            #expect(records.count == 9)
            #expect(records.filter { $0["host"] as? String == "web1" }.count == 5)
            #expect(records.filter { $0["host"] as? String == "web2" }.count == 4)
            #expect(records.allSatisfy { ($0["hash"] as? String)?.count == 64 && $0["seq"] is Int })
            // The same in OCSF: each event names its own host, and validates.
            let fleetOCSF = try cli(["query", "--format", "ocsf"] + directory, socket: "/nonexistent")
            let devices = try fleetOCSF.out.split(separator: "\n").map {
                (try object(String($0))["device"] as? [String: Any])?["hostname"] as? String
            }
            #expect(devices.filter { $0 == "web1" }.count == 5 && devices.filter { $0 == "web2" }.count == 4)
            try fleetOCSF.out.write(toFile: web1.directory.file("fleet.ocsf"), atomically: true, encoding: .utf8)
            let fleetCheck = try standardsCheck("ocsf", web1.directory.file("fleet.ocsf"))
            #expect(fleetCheck.output.contains("9 events valid"), "\(fleetCheck.output)")

            let failures = try cli(["query", "--signal", "failed"] + directory, socket: "/nonexistent")
            let rows = failures.out.split(separator: "\n")
            #expect(rows.count == 3, "\(failures)")
            #expect(rows[0].hasPrefix("HOST  SEQ  RECEIVED"))
            #expect(rows.dropFirst().allSatisfy { $0.hasPrefix("web1") && $0.contains("203.0.113.9") })

            let csv = try cli(
                ["query", "--format", "csv", "--user", "w2-\(tag)-3"] + directory, socket: "/nonexistent")
            let csvRows = csv.out.split(separator: "\n")
            #expect(csvRows.count == 2 && csvRows[0].hasSuffix(",hash,verdicts,host") && csvRows[1].hasSuffix(",web2"))

            let newest = try cli(["query", "--reverse", "--limit", "2", "--format", "jsonl"] + directory, socket: "/x")
            let newestUsers = try newest.out.split(separator: "\n").map { try object(String($0))["user"] as? String }
            #expect(newestUsers == ["w2-\(tag)-4", "w2-\(tag)-3"])

            let report = try cli(["report", "--since=-1h"] + directory, socket: "/nonexistent")
            #expect(report.out.contains("Records: 9"), "\(report.out)")
            #expect(report.out.contains("Records by host:\n        5  web1\n        4  web2\n"), "\(report.out)")
            #expect(report.out.contains("203.0.113.9"))

            let both = try cli(
                ["query", "--journal"] + testJournalWriter + ["--database", "x.db"], socket: "/nonexistent")
            #expect(both.status == 64)
        }

        /// `last`, `who` and `lastlog` over a collector's files: each host's sessions paired from
        /// its own records and judged against its own boot (its newest entry's), each row with its
        /// host; an untrusted sender's login counts for nothing, as in a log's tables.
        @Test func fleetSessionsAndLastLoginsFromCollectedFiles() throws {
            let tag = runTag()
            let boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let earlierBoot = "00000000-0000-4000-8000-\(tag)0000"
            let untrusted = isRoot && (try? requireTestAccount()) != nil
            let web1 = try DaemonUnderTest(extra: untrusted ? "[Access]\nEmitUsers=\(testAccount)\n" : "")
            let web2 = try DaemonUnderTest()
            let (alice, bob, carol, mallory) = ("alice-\(tag)", "bob-\(tag)", "carol-\(tag)", "mallory-\(tag)")
            func send(_ daemon: DaemonUnderTest, _ arguments: [String]) throws {
                let sent = try cli(["send"] + arguments, socket: daemon.socketPath)
                #expect(sent.status == 0, "\(sent)")
            }
            // web1: alice in and out (keyed, this boot), bob in and still there.
            let aliceKey = ["--request", "pairing=\(boot)/100/sshd/pts/1", "--request", "tty=pts/1"]
            try send(web1, ["login", "--user", alice, "--remote-addr", "192.0.2.7", "--time", "-2h"] + aliceKey)
            try send(web1, ["logout", "--user", alice, "--time", "-1h"] + aliceKey)
            try send(web1, ["login", "--user", bob, "--request", "pairing=\(boot)/101/sshd/pts/2"])
            if untrusted {
                let line = emitLine(user: mallory, request: #"{"pairing":"\#(boot)/102/sshd/pts/4"}"#)
                let sent = try requestAs(testAccount, socket: web1.socketPath, [line])
                #expect(sent.first?.contains(#""seq""#) == true, "\(sent)")
            }
            // web2: carol in during an earlier boot and never out; alice in later, through a
            // program that sends no key; two failures for root.
            try send(
                web2, ["login", "--user", carol, "--request", "pairing=\(earlierBoot)/200/sshd/pts/3", "--time", "-1d"])
            try send(web2, ["login", "--user", alice, "--sender", "login", "--request", "tty=tty1"])
            for _ in 1...2 { try send(web2, ["login-failed", "--user", "root", "--remote-addr", "203.0.113.9"]) }

            let collected = web1.directory.path + "/collected"
            try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
            try collect(web1, as: "web1", records: untrusted ? 4 : 3, into: collected)
            try collect(web2, as: "web2", records: 4, into: collected)
            let directory = ["--journal-directory", collected, "--journal-unit", "none", "--journal-uid", "0"]
            let indexed = directory + ["--index-directory", web1.directory.path + "/index"]
            /// What a command prints as JSON lines, the same read through the collector's index
            /// (fed with what arrived since its last answer) and from every entry again.
            func objects(_ arguments: [String]) throws -> [[String: Any]] {
                let run = try cli(arguments + indexed + ["--format", "jsonl"], socket: "/nonexistent")
                #expect(run.status == 0, "\(run)")
                let again = try cli(arguments + directory + ["--no-index", "--format", "jsonl"], socket: "/x")
                #expect(again.out == run.out, "\(arguments): through the index \(run.out), not \(again.out)")
                return try run.out.split(separator: "\n").map { try object(String($0)) }
            }
            func rows(_ found: [[String: Any]], _ keys: String...) -> [String] {
                found.map { row in keys.map { "\(row[$0] ?? "-")" }.joined(separator: " ") }
            }

            // Who is logged in anywhere: bob on web1, alice on web2; carol's boot has passed.
            let who = try objects(["who"])
            #expect(rows(who, "host", "user", "pairing") == ["web1 \(bob) key", "web2 \(alice) fallback"], "\(who)")
            let last = try objects(["last"])
            #expect(
                rows(last, "host", "user", "status") == [
                    "web2 \(alice) still_logged_in", "web1 \(bob) still_logged_in", "web1 \(alice) ended",
                    "web2 \(carol) gone",
                ], "\(last)")
            #expect(abs((last[2]["duration_seconds"] as? Double ?? 0) - 3600) < 1, "\(last)")
            // Gone by web2's boot: when the boot of its newest entry began (here this machine's).
            let stat = try String(contentsOfFile: "/proc/stat", encoding: .utf8)
            let bootTime = try #require(
                stat.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) })
            let endedBy = try #require(
                (last[3]["ended_by"] as? String).flatMap { ISO8601DateFormatter().date(from: $0.prefix(19) + "Z") })
            #expect(abs(endedBy.timeIntervalSince1970 - bootTime) < 5, "\(endedBy) against btime \(bootTime)")
            // 90 minutes ago: alice on web1, and carol on web2 if web2 had not rebooted yet.
            let earlier = try objects(["last", "--present", "-90min"])
            let carolThen = bootTime > Date().timeIntervalSince1970 - 5400 ? ["web2 \(carol)"] : []
            #expect(rows(earlier, "host", "user") == ["web1 \(alice)"] + carolThen, "\(earlier)")
            #expect(rows(try objects(["last", "--host", "web1"]), "host", "user") == ["web1 \(bob)", "web1 \(alice)"])
            let table = try cli(["last"] + directory, socket: "/nonexistent")
            #expect(table.out.hasPrefix("HOST  USER"), "\(table)")
            let csv = try cli(["who", "--format", "csv"] + directory, socket: "/nonexistent").out.split(separator: "\n")
            #expect(csv.first?.hasSuffix(",pairing,host") == true && csv.last?.hasSuffix(",web2") == true, "\(csv)")

            // alice's last login on any host comes first; each host's failures are its own.
            let alices = try objects(["lastlog", "--user", alice])
            #expect(rows(alices, "host", "user") == ["web2 \(alice)", "web1 \(alice)"], "\(alices)")
            let accounts = try objects(["lastlog"])
            #expect(!accounts.contains { $0["user"] as? String == mallory }, "\(accounts)")
            let root = accounts.filter { $0["user"] as? String == "root" }
            #expect(rows(root, "host", "failures_since_login") == ["web2 2"], "\(accounts)")
            // Inactive across the fleet: by each account's newest login anywhere, no local account.
            let inactive = try objects(["lastlog", "--inactive", "1h"])
            #expect(Set(rows(inactive, "host", "user")) == ["web2 \(carol)", "web2 root"], "\(inactive)")
            let all = try cli(["lastlog", "--all"] + directory, socket: "/nonexistent")
            #expect(all.status == 64 && all.err.contains("--all"), "\(all)")
            if untrusted {
                #expect(!(try objects(["last"])).contains { $0["user"] as? String == mallory })
            }

            // bob logs out and root fails to log in on web1; web1's uploader sends their entries
            // (bob's login again) twice. The index takes in the new ones, once.
            try send(web1, ["logout", "--user", bob, "--request", "pairing=\(boot)/101/sshd/pts/2"])
            try send(web1, ["login-failed", "--user", "root", "--remote-addr", "203.0.113.10"])
            let bobsEntries = exportCommand(
                of: web1, as: "web1", matching: "AUTHSIGNAL_USER=\(bob) AUTHSIGNAL_USER=root")
            try waitFor("bob's logout and root's failure in the journal") {
                try shell(bobsEntries + " | grep -c '^AUTHSIGNAL_SIGNAL='").output.hasPrefix("3\n")
            }
            for _ in 1...2 {
                let upload = try shell(
                    bobsEntries
                        + " | /lib/systemd/systemd-journal-remote --output=\(collected)/remote-web1.journal - 2>&1")
                #expect(upload.status == 0, "\(upload.output)")
            }
            #expect(rows(try objects(["who"]), "host", "user") == ["web2 \(alice)"])
            let bobs = try objects(["last", "--user", bob])
            #expect(rows(bobs, "host", "status", "logout_seq") == ["web1 ended \(untrusted ? 5 : 4)"], "\(bobs)")
            let roots = try objects(["lastlog", "--user", "root"])
            #expect(rows(roots, "host", "failures", "failures_since_login") == ["web1 1 1", "web2 2 2"], "\(roots)")
            #expect(FileManager.default.fileExists(atPath: web1.directory.path + "/index/web1.db"))
            // report counts the same through the index as from every entry, re-sent ones once.
            let report = try cli(["report", "--since", "-1d"] + indexed, socket: "/nonexistent")
            let everyEntry = try cli(["report", "--since", "-1d", "--no-index"] + directory, socket: "/nonexistent")
            #expect(report.status == 0 && report.out == everyEntry.out, "\(report)\n\(everyEntry)")
            #expect(report.out.hasPrefix("Records: 9\n"), "\(report.out)")
            #expect(
                report.out.contains("        5  web1\n") && report.out.contains("        4  web2\n"), "\(report.out)")
            let unindexed = try cli(["who", "--no-index", "--journal"], socket: "/x")
            #expect(unindexed.status == 64, "\(unindexed)")
        }

        /// `verdicts --journal-directory` on a collector: each host's own verdicts (scope host) and
        /// the fleet's, judged over every host's records in the order they arrived: failures spread
        /// over two hosts then a success, and a source one host saw first and another never.
        @Test func fleetVerdictsAcrossCollectedFiles() throws {
            let tag = runTag()
            let verdicts = "[Verdicts]\nFailureThreshold=3\nLearnLogins=2\n"
            let web1 = try DaemonUnderTest(extra: verdicts)
            let web2 = try DaemonUnderTest(extra: verdicts)
            // root is an account on every host: its name is stored as it is. An unknown name is stored
            // keyed-hashed, with each host's own key, so its failures meet across hosts by source only.
            let (alice, bob, carol) = ("alice-\(tag)", "root", "carol-\(tag)")
            func send(_ daemon: DaemonUnderTest, _ arguments: [String], times: Int = 1) throws {
                for _ in 0..<times {
                    let sent = try cli(["send"] + arguments, socket: daemon.socketPath)
                    #expect(sent.status == 0, "\(sent)")
                }
            }
            // web1: alice's usual source; two of bob's failures; carol in after three failures there.
            try send(web1, ["login", "--user", alice, "--remote-addr", "198.51.100.4"], times: 2)
            try send(web1, ["login-failed", "--user", bob, "--remote-addr", "192.0.2.50"], times: 2)
            try send(web1, ["login-failed", "--user", carol, "--remote-addr", "198.51.100.9"], times: 3)
            try send(web1, ["login", "--user", carol, "--remote-addr", "198.51.100.9"])
            // web2: bob's third failure, then bob in; alice in from a network new to the fleet.
            try send(web2, ["login-failed", "--user", bob, "--remote-addr", "192.0.2.50"])
            try send(web2, ["login", "--user", bob, "--remote-addr", "192.0.2.50"])
            try send(web2, ["login", "--user", alice, "--remote-addr", "203.0.113.77"])

            let collected = web1.directory.path + "/collected"
            try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
            try collect(web1, as: "web1", records: 8, into: collected)
            try collect(web2, as: "web2", records: 3, into: collected)
            let config = web1.directory.path + "/collector.conf"
            try verdicts.write(toFile: config, atomically: true, encoding: .utf8)
            let directory = [
                "--journal-directory", collected, "--journal-unit", "none", "--journal-uid", "0", "--config", config,
            ]
            let lines = try cli(["verdicts", "--format", "jsonl"] + directory, socket: "/nonexistent")
            #expect(lines.status == 0, "\(lines)")
            let judged = try lines.out.split(separator: "\n").map { try object(String($0)) }
            let summary = judged.map { record in
                let labels = (record["verdicts"] as? [[String: Any]] ?? []).map {
                    "\($0["code"] ?? "")@\($0["scope"] ?? "")"
                }
                return "\(record["host"] ?? "") \(record["user"] ?? "") " + labels.joined(separator: ",")
            }
            #expect(
                summary == [
                    "web1 \(carol) success-after-failures@host", "web2 \(bob) success-after-failures@fleet",
                    "web2 \(alice) first-seen-source@fleet",
                ], "\(lines.out)")
            let reasons = judged.flatMap {
                ($0["verdicts"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
            }
            #expect(
                reasons.contains {
                    $0.hasPrefix(
                        "login of root from 192.0.2.50 on web2 after failed logins within 600 s on 2 hosts of the ")
                        && $0.hasSuffix(
                            "fleet (web1, web2): 3 failures against root, the last from 192.0.2.50 on web2; "
                                + "3 failures from 192.0.2.0/24, the last against root on web2")
                }, "\(reasons)")
            #expect(reasons.contains { $0.contains("on any host of the fleet, here web2; 2 earlier logins on 1 host") })

            let table = try cli(["verdicts", "--host", "web2"] + directory, socket: "/nonexistent")
            #expect(table.status == 0, "\(table)")
            #expect(table.out.hasPrefix("HOST ") && !table.out.contains(carol), "\(table)")
            #expect(table.out.contains("  ! success-after-failures@fleet\n"), "\(table)")
            #expect(
                table.out.hasSuffix("2 logins judged: 1 first-seen-source@fleet, 1 success-after-failures@fleet\n"),
                "\(table)")
            // Without the fleet's verdicts enabled, only the hosts' own remain.
            try (verdicts + "Enabled=success-after-failures\n").write(toFile: config, atomically: true, encoding: .utf8)
            let fewer = try cli(["verdicts", "--format", "csv"] + directory, socket: "/nonexistent")
            #expect(fewer.out.split(separator: "\n").count == 3, "\(fewer)")
            #expect(!fewer.out.contains("first-seen-source"), "\(fewer)")
        }

        /// `fleet status` on a collector: each host's last record and anchor; a host whose daemon
        /// anchors its head every second while idle (the heartbeat) stays heard from, one whose
        /// entries stopped arriving is silent; an anchor of a record with another hash (a chain
        /// rewritten and anchored again) is reported, and sets the exit status.
        @Test func fleetStatusTellsSilentAndTamperedHosts() throws {
            let tag = runTag()
            let web1 = try DaemonUnderTest(extra: "AnchorHeartbeatSec=1\n")
            let web2 = try DaemonUnderTest()
            for daemon in [web1, web2] {
                for index in 1...3 {
                    let sent = try cli(
                        ["send", "login", "--user", "status-\(tag)-\(index)"], socket: daemon.socketPath)
                    #expect(sent.status == 0, "\(sent)")
                }
            }
            let anchorID = "MESSAGE_ID=f02c7b5697994cf6ac6fcd838ff96e8f"
            /// How many anchors of record `seq` the daemon's current process wrote.
            func anchors(_ daemon: DaemonUnderTest, seq: Int = 3) throws -> Int {
                let count =
                    exportCommand(of: daemon, as: "x", matching: anchorID) + " | grep -c '^AUTHSIGNAL_SEQ=\(seq)$'"
                return Int(try shell(count).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
            // web2 anchors record 3 once; web1 again each second while idle.
            try waitFor("web2's anchor of record 3") { try anchors(web2) == 1 }
            try waitFor("web1's heartbeat anchors") { try anchors(web1) >= 3 }
            let collected = web1.directory.path + "/collected"
            try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
            func upload(_ daemon: DaemonUnderTest, as host: String, _ filter: String = "") throws {
                let upload = try shell(
                    exportCommand(of: daemon, as: host) + filter
                        + " | /lib/systemd/systemd-journal-remote --output=\(collected)/remote-\(host).journal - 2>&1")
                #expect(upload.status == 0, "\(upload.output)")
            }
            try upload(web2, as: "web2")
            // web2 goes quiet on the collector; web1's heartbeats keep arriving.
            Thread.sleep(forTimeInterval: 4)
            try upload(web1, as: "web1")
            let directory = ["--journal-directory", collected, "--journal-unit", "none", "--journal-uid", "0"]
            let status = try cli(
                ["fleet", "status", "--silent-after", "3s", "--format", "jsonl"] + directory, socket: "/x")
            #expect(status.status == 3, "\(status)")
            let hosts = try status.out.split(separator: "\n").map { try object(String($0)) }
            #expect(hosts.map { $0["host"] as? String } == ["web1", "web2"], "\(status)")
            #expect(hosts.map { $0["silent"] as? Bool } == [false, true], "\(status)")
            for host in hosts {
                #expect((host["last_record"] as? [String: Any])?["seq"] as? Int == 3, "\(host)")
                #expect((host["last_anchor"] as? [String: Any])?["seq"] as? Int == 3, "\(host)")
                #expect((host["problems"] as? [Any])?.isEmpty == true && host["logs"] as? Int == 1, "\(host)")
            }
            #expect((hosts[0]["anchors"] as? Int ?? 0) >= 3 && (hosts[1]["anchors"] as? Int ?? 0) >= 1, "\(status)")
            let table = try cli(["fleet", "status", "--silent-after", "3s"] + directory, socket: "/x")
            let rows = table.out.split(separator: "\n")
            #expect(rows.first?.hasPrefix("HOST  LAST RECORD") == true, "\(table)")
            #expect(rows.count == 3 && rows[1].hasSuffix(" ok") && rows[2].hasSuffix(" SILENT"), "\(table)")
            let patient = try cli(["fleet", "status", "--silent-after", "1h"] + directory, socket: "/x")
            #expect(patient.status == 0, "\(patient)")

            // web2's anchor again, with another hash: its chain was rewritten and anchored anew.
            try upload(
                web2, as: "web2",
                " | sed -e 's/^AUTHSIGNAL_HASH=.*/AUTHSIGNAL_HASH=\(String(repeating: "ab", count: 32))/'")
            let tampered = try cli(["fleet", "status", "--silent-after", "1h"] + directory, socket: "/x")
            #expect(tampered.status == 5, "\(tampered)")
            #expect(tampered.out.contains("web2: log "), "\(tampered)")
            #expect(tampered.out.contains(": record 3 anchored with two different hashes"), "\(tampered)")
            let notCollector = try cli(["fleet", "status"], socket: "/x")
            #expect(notCollector.status == 64, "\(notCollector)")

            // A daemon started again on a log it has anchored keeps the heartbeat, idle from the start.
            let restarted = try DaemonUnderTest(extra: "AnchorHeartbeatSec=1\n")
            #expect(try cli(["send", "login", "--user", "status-\(tag)-r"], socket: restarted.socketPath).status == 0)
            try waitFor("the first anchor") { try anchors(restarted, seq: 1) >= 1 }
            #expect(restarted.stop() == 0)
            try restarted.start()
            try waitFor("the restarted daemon's heartbeat anchors") { try anchors(restarted, seq: 1) >= 2 }
        }

        /// In a collector's directory the file an entry is in names its host, not the `_HOSTNAME`
        /// in it: a host replaying another's entries, anchors included, under that host's name
        /// stays itself, and a log's anchors from two senders are refused until one is named.
        /// An entry uploaded twice is one record.
        @Test func collectedFilesNameTheirSender() throws {
            let tag = runTag()
            let daemon = try anchoredDaemon(count: 6, anchorEvery: 3, prefix: "sender-\(tag)")
            #expect(daemon.stop() == 0)
            let copy = try copyLog(of: daemon, named: "copy")
            let collected = daemon.directory.path + "/collected"
            try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
            // web1's entries arrive twice, as an uploader resending after an outage sends them;
            // web3 replays them byte for byte (which the journal library's merged view of the
            // directory would show once, from either file).
            for sender in ["web1", "web1", "web3"] {
                let upload = try shell(
                    exportCommand(of: daemon, as: "web1")
                        + " | /lib/systemd/systemd-journal-remote --output=\(collected)/remote-\(sender).journal - 2>&1"
                )
                #expect(upload.status == 0, "\(upload.output)")
            }
            let raw = try shell("journalctl --file \(collected)/remote-web1.journal -o cat AUTHSIGNAL_SEQ=1 | wc -l")
            #expect(raw.output.trimmingCharacters(in: .whitespacesAndNewlines) == "2", "\(raw)")
            let directory = ["--journal-directory", collected, "--journal-unit", "none", "--journal-uid", "0"]
            let all = try cli(["query", "--format", "jsonl"] + directory, socket: "/x")
            let hosts = try all.out.split(separator: "\n").map { try object(String($0))["host"] as? String }
            #expect(hosts.filter { $0 == "web1" }.count == 6 && hosts.filter { $0 == "web3" }.count == 6, "\(all)")
            for sender in ["web1", "web3"] {
                let one = try cli(["query", "--format", "jsonl", "--host", sender] + directory, socket: "/x")
                let records = try one.out.split(separator: "\n").map { try object(String($0)) }
                #expect(records.count == 6 && records.allSatisfy { $0["host"] as? String == sender }, "\(one)")
            }
            let unknown = try cli(["query", "--host", "web2"] + directory, socket: "/x")
            #expect(unknown.status == 3 && unknown.err.contains("no journal files from host web2"), "\(unknown)")
            let notCollected = try cli(["query", "--host", "web1", "--journal"], socket: "/x")
            #expect(notCollected.status == 64, "\(notCollected)")

            let ambiguous = try cli(["verify", "--database", copy] + directory, socket: "/x")
            #expect(ambiguous.status == 3, "\(ambiguous)")
            #expect(ambiguous.err.contains("come from several hosts (web1, web3)"), "\(ambiguous)")
            let named = try cli(["verify", "--database", copy, "--host", "web1"] + directory, socket: "/x")
            #expect(named.status == 0, "\(named)")
            #expect(named.out.contains("from host web1; the log agrees with the newest (record 6)"), "\(named)")
        }

        /// `follow` on a collector's directory shows every sender's entries however they arrive:
        /// one uploaded after a later-stamped entry of another host was shown (a backlog after an
        /// outage, a slower uploader), one in a file rotated since the follow started, and a new
        /// sender's. The journal library's merged view of the directory skips the first, and a
        /// reader of one host's files opened at the start never sees the second.
        @Test func followingACollectorShowsLateEntriesRotatedFilesAndNewSenders() throws {
            let tag = runTag()
            let daemon = try DaemonUnderTest()
            for index in 1...3 {
                #expect(
                    try cli(["send", "login", "--user", "late-\(tag)-\(index)"], socket: daemon.socketPath).status == 0)
            }
            try waitFor("the daemon's 3 journal entries") {
                try shell(exportCommand(of: daemon, as: "x") + " | grep -c '^AUTHSIGNAL_SEQ='").output.hasPrefix("3")
            }
            let collected = daemon.directory.path + "/collected"
            try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
            /// The daemon's record `seq`, as `sender` uploads it to the collector.
            func upload(_ seq: Int, from sender: String) throws {
                let upload = try shell(
                    exportCommand(of: daemon, as: sender, matching: "AUTHSIGNAL_SEQ=\(seq)")
                        + " | /lib/systemd/systemd-journal-remote --output=\(collected)/remote-\(sender).journal - 2>&1"
                )
                #expect(upload.status == 0, "\(upload.output)")
            }
            try upload(1, from: "web1")
            try upload(1, from: "web2")

            /// A follower of the directory (of one sender's files, with `host`) writing JSON lines
            /// to `output`.
            func follower(_ output: String, host: [String] = []) throws -> SpawnedProcess {
                let arguments =
                    [
                        "follow", "--journal-directory", collected, "--journal-unit", "none", "--journal-uid", "0",
                        "--since", "-1h",
                    ] + host
                    + ["--format", "jsonl"]
                return try SpawnedProcess(
                    [
                        "/bin/sh", "-c", "exec \"$0\" \"$@\" >\(output) 2>\(output).err", cliPath,
                    ] + arguments)
            }
            let all = collected + "/../all.jsonl"
            let web1 = collected + "/../web1.jsonl"
            let followers = [try follower(all), try follower(web1, host: ["--host", "web1"])]
            func followed(_ path: String) throws -> [String] {
                let lines = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n") ?? []
                return try lines.map {
                    let record = try object(String($0))
                    return "\(record["host"] as? String ?? "?"):\(record["seq"] as? Int ?? 0)"
                }
            }
            try waitFor("both followers to show what was there") {
                try followed(all).count == 2 && followed(web1).count == 1
            }
            try upload(3, from: "web2")
            try waitFor("web2's record 3") { try followed(all).count == 3 }
            // Stamped before web2's record 3, and arriving after it was shown.
            try upload(2, from: "web1")
            try waitFor("web1's record 2, arriving late") { try followed(all).count == 4 && followed(web1).count == 2 }
            #expect(try followed(all) == ["web1:1", "web2:1", "web2:3", "web1:2"])

            // web1's file rotated, as journal-remote names the archived one; then a new sender.
            let header = try shell("journalctl --file \(collected)/remote-web1.journal --header")
            let id = try #require(
                header.output.split(separator: "\n").first { $0.contains("Sequential number ID") }?
                    .split(separator: " ").last?.replacingOccurrences(of: "-", with: ""))
            try FileManager.default.moveItem(
                atPath: collected + "/remote-web1.journal",
                toPath: collected + "/remote-web1@\(id)-0000000000000001-0005f0a1b2c3d4e5.journal")
            try upload(3, from: "web1")
            try upload(1, from: "web3")
            try waitFor("the rotated sender's and the new sender's records") {
                try followed(all).count >= 6 && followed(web1).count >= 3
            }
            for follower in followers {
                follower.signal(SIGINT)
                #expect(follower.wait() == 0)
            }
            #expect(try Set(followed(all)) == ["web1:1", "web2:1", "web2:3", "web1:2", "web1:3", "web3:1"])
            #expect(try followed(all).count == 6)
            #expect(try followed(web1) == ["web1:1", "web1:2", "web1:3"])
        }

        /// Any user can run a program named authsignald (`_COMM`) and write `AUTHSIGNAL_*` fields;
        /// only journald's `_SYSTEMD_UNIT` and `_UID` stamps decide whose entries are records.
        @Test func forgedJournalEntriesAreNotRecords() throws {
            guard isRoot else { try Test.cancel("needs root to write as another account") }
            _ = try requireTestAccount()
            let tag = runTag()
            let fields = [
                "MESSAGE=Failed login for alice from 203.0.113.66", "SYSLOG_IDENTIFIER=authsignald",
                "MESSAGE_ID=17494b96fe8e453d89aaeb949444e3f2", "AUTHSIGNAL_SIGNAL=user_login_failed",
                "AUTHSIGNAL_SEQ=1", "AUTHSIGNAL_SENDER=sshd", "AUTHSIGNAL_USER=forged-\(tag)",
                "AUTHSIGNAL_REMOTE_ADDR=203.0.113.66",
            ]
            // A process names itself authsignald (prctl PR_SET_NAME, what _COMM shows) and writes
            // the entry over journald's native socket; it lingers so journald can read its name.
            let forger = """
                import ctypes, socket, sys, time
                ctypes.CDLL(None).prctl(15, b"authsignald", 0, 0, 0)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.sendto(sys.stdin.buffer.read(), "/run/systemd/journal/socket")
                time.sleep(1)
                """
            let written = try shell(
                "printf '%s\\n' \(fields.map { "'\($0)'" }.joined(separator: " ")) | setpriv --reuid=\(testAccount) "
                    + "--regid=\(testAccount) --init-groups /usr/bin/python3 -c '\(forger)'")
            #expect(written.status == 0, "\(written.output)")
            let uid = try #require(getpwnam(testAccount)).pointee.pw_uid
            let asForger = ["--journal-unit", "none", "--journal-uid", "\(uid)"]
            // The entry is there, and well-formed: read as the forger's own entries it is a record,
            // and journald named its writer authsignald.
            try waitFor("the forged entry") {
                try cli(["query", "--journal"] + asForger + ["--user", "forged-\(tag)"], socket: "/x").status == 0
            }
            let export = try runCommand(
                "/usr/bin/journalctl", ["-o", "export", "--no-pager", "AUTHSIGNAL_USER=forged-\(tag)"])
            #expect(export.output.contains("_COMM=authsignald"))
            // As the daemon's entries (root outside any unit here; a deployment's unit and account
            // by default), it is not.
            let trusted = try cli(
                ["query", "--journal"] + testJournalWriter + ["--user", "forged-\(tag)"], socket: "/x")
            #expect(trusted.status == 1, "\(trusted)")
            let byDefault = try cli(["query", "--journal", "--user", "forged-\(tag)"], socket: "/x")
            #expect(byDefault.status == 1, "\(byDefault)")
            // Outside a unit with no uid named, any writer would do (issue 24, item 8): refused.
            let anyone = try cli(
                ["query", "--journal", "--journal-unit", "none", "--user", "forged-\(tag)"], socket: "/x")
            #expect(anyone.status != 0 && anyone.err.contains("--journal-unit none needs --journal-uid"), "\(anyone)")
            #expect(!anyone.out.contains("forged-\(tag)"))
        }

        @Test func followTheJournal() throws {
            let daemon = try DaemonUnderTest()
            let tag = runTag()
            let follower = Process()
            follower.executableURL = URL(fileURLWithPath: cliPath)
            follower.arguments =
                ["follow", "--journal"] + testJournalWriter + ["--format", "jsonl", "--sender", "follow-\(tag)"]
            let output = Pipe()
            follower.standardOutput = output
            follower.standardError = FileHandle.nullDevice
            try follower.run()
            defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) } }
            usleep(500_000)
            for index in 1...3 {
                let sent = try cli(
                    ["send", "login", "--user", "f-\(index)", "--sender", "follow-\(tag)"], socket: daemon.socketPath)
                #expect(sent.status == 0)
            }
            #expect(try cli(["send", "login", "--user", "other"], socket: daemon.socketPath).status == 0)
            var followed = ""
            try waitFor("the journal follower to print 3 records") {
                followed += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
                return followed.split(separator: "\n").count >= 3
            }
            kill(follower.processIdentifier, SIGINT)
            follower.waitUntilExit()
            #expect(follower.terminationStatus == 0)
            let users = try followed.split(separator: "\n").map { try object(String($0))["user"] as? String }
            #expect(users == ["f-1", "f-2", "f-3"])
        }
    }
}

/// The daemons of these tests run as root outside any systemd unit: the journal writer the CLI
/// must trust for their entries (a deployment's is the authsignald unit and account).
let testJournalWriter = ["--journal-unit", "none", "--journal-uid", "0"]
