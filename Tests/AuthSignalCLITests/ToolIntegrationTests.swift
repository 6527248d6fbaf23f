import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

/// The repository's root, where the shipped fail2ban, CrowdSec and unit files are.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

extension SpawnedTests {
    /// The tools admins already run, for real: Debian's fail2ban and Prometheus tools against a
    /// real daemon writing to a real journald (docs/fail2ban.md, docs/metrics.md).
    @Suite struct ToolIntegrationTests {
        static let failureID = "17494b96fe8e453d89aaeb949444e3f2"

        /// A live fail2ban-server with the shipped filter bans an address after `maxretry`
        /// failures sent through authsignald, and never an address that only a user name, a host
        /// name or a padded address claims, nor one a sender outside the trusted senders reports
        /// (issue 24, item 2); fail2ban-regex counts exactly the failures sent.
        @Test func fail2banBansTheAddressOfRepeatedFailuresAndNothingForged() throws {
            try requireJournald(andTools: "/usr/bin/fail2ban-server", "/usr/bin/fail2ban-regex")
            _ = try requireTestAccount()
            let daemon = try DaemonUnderTest(extra: "[Access]\nEmitUsers=\(testAccount)\n")
            // Entries of this run only: the sender is unique. The shipped journalmatch names the
            // authsignald.service unit, which a daemon started by a test does not run in (the
            // booted-systemd suite checks it as shipped); the sender stands in for it here, the
            // rest of the shipped match (the trusted-sender term among it) stays.
            let sender = "f2b-\(UUID().uuidString.prefix(8))"
            let journalmatch = try Self.shippedFail2banJournalmatch()
                .replacingOccurrences(of: "_SYSTEMD_UNIT=authsignald.service", with: "AUTHSIGNAL_SENDER=\(sender)")
            #expect(journalmatch.contains("AUTHSIGNAL_TRUSTED=yes"), "\(journalmatch)")
            let fail2ban = try Fail2banServer(journalmatch: journalmatch)
            defer { fail2ban.stop() }

            func failure(_ user: String, from address: String?, password: String? = nil) throws {
                var arguments = ["send", "login-failed", "--user", user, "--sender", sender]
                if let address { arguments += ["--remote-addr", address] }
                if password != nil { arguments += ["--credential", "password=@-"] }
                let sent = try cli(arguments, socket: daemon.socketPath, stdin: password.map { $0 + "\n" } ?? "")
                #expect(sent.status == 0, "\(sent)")
            }
            // A member of the emit group who is not a trusted sender reports six failures each
            // "from" two addresses: recorded, and never counted.
            for address in ["192.0.2.250", "2001:db8::250"] {
                for index in 0..<6 {
                    let sent = try runCommand(
                        "/usr/bin/setpriv",
                        [
                            "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath,
                            "send", "login-failed", "--socket", daemon.socketPath, "--user", "root\(index)",
                            "--sender", sender, "--remote-addr", address,
                        ])
                    #expect(sent.status == 0, "\(sent)")
                }
            }
            let forged = "198.51.100.66"
            // Forgeries first: none may count for the forged address.
            try failure("rhost=\(forged)", from: nil)
            try failure("x rhost=\(forged) login failed", from: "gw.example.org")
            try failure("evil\nrhost=\(forged) login failed for a via sshd", from: nil)
            try failure("\u{1B}[2K\rrhost=\(forged)", from: nil)
            try failure("bob", from: "\(forged) login failed")
            try failure("bob", from: "\(forged)\n")
            for _ in 0..<2 { try failure("carol", from: "203.0.113.8") }  // below maxretry
            // Banned at the third; with passwords, so that their messages carry pwhash= too.
            for index in 0..<3 { try failure("alice\(index)", from: "203.0.113.7", password: "Winter2026!") }
            let logins = try cli(
                ["send", "login", "--user", "alice", "--sender", sender, "--remote-addr", "203.0.113.9"],
                socket: daemon.socketPath)
            #expect(logins.status == 0)

            // Every entry reached fail2ban (5 counted: the forgeries are not failures it counts).
            try waitFor("fail2ban to count the five failures with a numeric address") {
                fail2ban.status().contains("Total failed:\t5")
            }
            try waitFor("the ban of 203.0.113.7") { fail2ban.banned == ["203.0.113.7"] }
            #expect(fail2ban.banned == ["203.0.113.7"], "\(fail2ban.status())")

            let regex = try runCommand(
                "/usr/bin/fail2ban-regex",
                [
                    // The shipped filter, beside fail2ban's common.conf, which it includes.
                    "--print-all-matched", "--journalmatch", journalmatch, "systemd-journal",
                    fail2ban.directory.path + "/filter.d/authsignal.conf",
                ])
            #expect(regex.status == 0, "\(regex.output)")
            // Eleven trusted failure entries of this run, five of them counted.
            #expect(regex.output.contains("Lines: 11 lines, 0 ignored, 5 matched, 6 missed"), "\(regex.output)")
            let matched = regex.output.split(separator: "\n").filter { $0.contains(" rhost=") }
            #expect(matched.count == 5 && matched.allSatisfy { $0.contains("rhost=203.0.113.") }, "\(regex.output)")
            // A filter that forgot the trusted-sender term still cannot match the untrusted twelve:
            // their messages do not lead with the address.
            let untrustedToo = try runCommand(
                "/usr/bin/fail2ban-regex",
                [
                    "--journalmatch", "AUTHSIGNAL_SENDER=\(sender) MESSAGE_ID=\(Self.failureID)", "systemd-journal",
                    fail2ban.directory.path + "/filter.d/authsignal.conf",
                ])
            #expect(
                untrustedToo.output.contains("Lines: 23 lines, 0 ignored, 5 matched, 18 missed"),
                "\(untrustedToo.output)")
        }

        /// The opt-in filter for logins judged success-after-failures matches such a login from a
        /// trusted sender by its address, and nothing an emitter outside the trusted senders sends
        /// nor any other login (docs/verdicts.md).
        @Test func fail2banMatchesALoginJudgedSuccessAfterFailures() throws {
            try requireJournald(andTools: "/usr/bin/fail2ban-regex")
            _ = try requireTestAccount()
            let daemon = try DaemonUnderTest(
                extra: "[Access]\nEmitUsers=\(testAccount)\n[Verdicts]\nFailureThreshold=3\nLearnLogins=1\n")
            let sender = "f2b-\(UUID().uuidString.prefix(8))"
            let filter = "authsignal-success-after-failures.conf"
            let journalmatch = try Self.shippedFail2banJournalmatch(filter)
                .replacingOccurrences(of: "_SYSTEMD_UNIT=authsignald.service", with: "AUTHSIGNAL_SENDER=\(sender)")
            #expect(journalmatch.contains("AUTHSIGNAL_VERDICT=success-after-failures"), "\(journalmatch)")
            func send(_ signal: String, _ user: String, from address: String, untrusted: Bool = false) throws {
                let arguments = ["send", signal, "--user", user, "--sender", sender, "--remote-addr", address]
                let status =
                    untrusted
                    ? try runCommand(
                        "/usr/bin/setpriv",
                        ["--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath]
                            + arguments + ["--socket", daemon.socketPath]
                    ).status
                    : try cli(arguments, socket: daemon.socketPath).status
                #expect(status == 0, "\(arguments)")
            }
            // An emitter outside the trusted senders sends a whole brute force and its success.
            for _ in 0..<3 { try send("login-failed", "root", from: "192.0.2.250", untrusted: true) }
            try send("login", "root", from: "192.0.2.250", untrusted: true)
            // Root logs in from its usual place, then a brute force succeeds from a new one.
            try send("login", "root", from: "198.51.100.4")
            for _ in 0..<3 { try send("login-failed", "root", from: "203.0.113.88") }
            try send("login", "root", from: "203.0.113.88")
            try send("login", "root", from: "198.51.100.4")
            let directory = try TemporaryDirectory()
            try FileManager.default.copyItem(
                atPath: "/etc/fail2ban/filter.d/common.conf", toPath: directory.file("common.conf"))
            try FileManager.default.copyItem(
                atPath: repositoryRoot + "/etc/fail2ban/filter.d/" + filter, toPath: directory.file(filter))
            var output = ""
            try waitFor("the judged login to reach the journal") {
                output = try runCommand(
                    "/usr/bin/fail2ban-regex",
                    ["--print-all-matched", "--journalmatch", journalmatch, "systemd-journal", directory.file(filter)]
                ).output
                return output.contains("1 matched")
            }
            #expect(output.contains("Lines: 1 lines, 0 ignored, 1 matched, 0 missed"), "\(output)")
            #expect(output.contains("rhost=203.0.113.88 verdicts=first-seen-source,success-after-failures"))
            #expect(!output.contains("192.0.2.250"))
        }

        /// The `journalmatch` of a shipped filter.
        static func shippedFail2banJournalmatch(_ name: String = "authsignal.conf") throws -> String {
            let filter = try String(
                contentsOfFile: repositoryRoot + "/etc/fail2ban/filter.d/" + name, encoding: .utf8)
            let line = try #require(filter.split(separator: "\n").first { $0.hasPrefix("journalmatch = ") })
            return String(line.dropFirst("journalmatch = ".count))
        }
    }
}

extension SpawnedTests.ToolIntegrationTests {
    /// `stats --format prometheus --output` writes a file that promtool accepts, whose counts
    /// are the daemon's, and that Debian's node_exporter serves through its textfile collector;
    /// a daemon that does not answer leaves `authsignal_up 0`.
    @Test func prometheusToolsReadTheStatsFile() throws {
        try requireJournald(andTools: "/usr/bin/promtool", "/usr/bin/prometheus-node-exporter")
        let daemon = try DaemonUnderTest()
        for user in ["alice", "bob", "carol"] {
            #expect(try cli(["send", "login", "--user", user], socket: daemon.socketPath).status == 0)
        }
        for _ in 0..<2 {
            #expect(try cli(["send", "login-failed", "--user", "root"], socket: daemon.socketPath).status == 0)
        }
        let textfiles = try TemporaryDirectory()
        let file = textfiles.path + "/authsignal.prom"
        let written = try cli(["stats", "--format", "prometheus", "--output", file], socket: daemon.socketPath)
        #expect(written.status == 0 && written.out.isEmpty, "\(written)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for line in [
            "authsignal_up 1", #"authsignal_records_total{signal="user_logged_in"} 3"#,
            #"authsignal_records_total{signal="user_login_failed"} 2"#,
            #"authsignal_log_records{signal="user_logged_in"} 3"#,
            "authsignal_chain_head_seq 5",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "\(line) in\n\(text)")
        }
        // The histogram: one observation per transaction, cumulative buckets ending in +Inf.
        func value(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Double($0.split(separator: " ")[1])
            }
        }
        let commits = try #require(value("authsignal_commits_total"))
        #expect(commits >= 1 && commits <= 5)
        #expect(value("authsignal_commit_duration_seconds_count") == commits)
        let buckets = text.split(separator: "\n").filter { $0.hasPrefix("authsignal_commit_duration_seconds_bucket") }
            .compactMap { Double($0.split(separator: " ")[1]) }
        #expect(buckets.count == LatencyHistogram.commitBounds.count + 1)
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0 <= $1 } && buckets.last == commits)

        let check = try runCommand("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \"$0\"", file])
        #expect(check.status == 0 && check.output.isEmpty, "promtool: \(check.output)")

        let exporter = try NodeExporter(textfileDirectory: textfiles.path)
        defer { exporter.stop() }
        let scraped = try exporter.scrape()
        #expect(scraped.contains(#"authsignal_records_total{signal="user_logged_in"} 3"#), "\(scraped)")
        #expect(scraped.contains("node_textfile_scrape_error 0"), "\(scraped)")

        // The daemon gone: the same file now says so, and promtool still accepts it.
        _ = daemon.stop()
        let down = try cli(["stats", "--format", "prometheus", "--output", file], socket: daemon.socketPath)
        #expect(down.status == 3, "\(down)")
        let downText = try String(contentsOfFile: file, encoding: .utf8)
        #expect(downText.hasSuffix("authsignal_up 0\n"), "\(downText)")
        #expect(try runCommand("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \"$0\"", file]).status == 0)
        // Only the file itself: the temporary files were renamed over it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: textfiles.path) == ["authsignal.prom"])
    }
}

extension SpawnedTests.ToolIntegrationTests {
    /// Debian's crowdsec replays this run's failures from the journal through the shipped parser
    /// and scenarios: a brute force from one address, one password tried on five accounts from one
    /// address, and one password on five accounts from five addresses each raise their alerts, and
    /// the first two their ban; a slow trickle raises nothing, nor does a brute force that a
    /// sender outside the trusted senders reports (issue 24, item 2).
    @Test func crowdsecRaisesBruteForceAndSprayingAlerts() throws {
        try requireJournald(andTools: "/usr/bin/crowdsec", "/usr/bin/cscli")
        _ = try requireTestAccount()
        let daemon = try DaemonUnderTest(extra: "[Access]\nEmitUsers=\(testAccount)\n")
        let sender = "cs-\(UUID().uuidString.prefix(8))"
        func failure(_ user: String, from address: String, password: String) throws {
            let sent = try cli(
                [
                    "send", "login-failed", "--user", user, "--sender", sender, "--remote-addr", address,
                    "--credential", "password=@-",
                ], socket: daemon.socketPath, stdin: password + "\n")
            #expect(sent.status == 0, "\(sent)")
        }
        let accounts = ["root", "daemon", "bin", "sys", "sync"]
        // Brute force: eight passwords for root from one address.
        for index in 0..<8 { try failure("root", from: "203.0.113.20", password: "guess-\(index)") }
        // Spraying from one address: one password, five accounts.
        for user in accounts { try failure(user, from: "198.51.100.50", password: "Summer2026!") }
        // Spraying from five addresses, one failure each: no address stands out.
        for (index, user) in accounts.enumerated() {
            try failure(user, from: "198.51.100.\(10 + index)", password: "Winter2026!")
        }
        // Two failures from another address: below every threshold.
        for index in 0..<2 { try failure("nobody", from: "192.0.2.30", password: "other-\(index)") }
        // An emitter who is not a trusted sender forges a brute force from two addresses.
        for address in ["192.0.2.250", "2001:db8::250"] {
            for _ in 0..<8 {
                let sent = try runCommand(
                    "/usr/bin/setpriv",
                    [
                        "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath, "send",
                        "login-failed", "--socket", daemon.socketPath, "--user", "root", "--sender", sender,
                        "--remote-addr", address,
                    ])
                #expect(sent.status == 0, "\(sent)")
            }
        }

        let crowdsec = try CrowdSecReplay()
        defer { crowdsec.stop() }
        let check = try crowdsec.checkConfiguration()
        #expect(check.status == 0, "\(check.output)")
        // crowdsec raises one alert per source address of an overflow: 1 brute force, 1 spraying,
        // and 1 + 5 distributed spraying (both passwords went to five accounts).
        // The shipped acquisition's filters, the sender standing in for the unit (as for fail2ban).
        let filters = try Self.shippedCrowdSecFilters().map {
            $0 == "_SYSTEMD_UNIT=authsignald.service" ? "AUTHSIGNAL_SENDER=\(sender)" : $0
        }
        #expect(filters.contains("AUTHSIGNAL_TRUSTED=yes"), "\(filters)")
        let alerts = try crowdsec.replay(
            dsn: "journalctl://" + filters.map { "filters=\($0)" }.joined(separator: "&"), expecting: 8)
        func raised(_ scenario: String) -> [CrowdSecReplay.Alert] { alerts.filter { $0.scenario == scenario } }
        #expect(raised("authsignal/authsignal-bf").flatMap(\.decisions) == ["203.0.113.20"], "\(alerts)")
        #expect(raised("authsignal/authsignal-spray").flatMap(\.decisions) == ["198.51.100.50"], "\(alerts)")
        let distributed = raised("authsignal/authsignal-spray-distributed")
        #expect(distributed.count == 6 && distributed.allSatisfy { $0.decisions.isEmpty }, "\(alerts)")
        #expect(alerts.count == 8, "\(alerts)")
        #expect(!alerts.contains { $0.source == "192.0.2.30" }, "\(alerts)")
        #expect(!alerts.contains { $0.source.hasPrefix("192.0.2.250") || $0.source.contains("2001:db8") }, "\(alerts)")
    }

    /// A login judged success-after-failures, read through the opt-in acquisition, parser and
    /// scenario, bans its address; the same brute force and success from an emitter outside the
    /// trusted senders, and a login judged otherwise, ban nothing.
    @Test func crowdsecBansALoginJudgedSuccessAfterFailures() throws {
        try requireJournald(andTools: "/usr/bin/crowdsec", "/usr/bin/cscli")
        _ = try requireTestAccount()
        let daemon = try DaemonUnderTest(
            extra: "[Access]\nEmitUsers=\(testAccount)\n[Verdicts]\nFailureThreshold=3\nLearnLogins=1\n")
        let sender = "cs-\(UUID().uuidString.prefix(8))"
        func send(_ signal: String, from address: String, untrusted: Bool = false) throws {
            let arguments = ["send", signal, "--user", "root", "--sender", sender, "--remote-addr", address]
            let status =
                untrusted
                ? try runCommand(
                    "/usr/bin/setpriv",
                    ["--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--", cliPath] + arguments
                        + ["--socket", daemon.socketPath]
                ).status
                : try cli(arguments, socket: daemon.socketPath).status
            #expect(status == 0, "\(arguments)")
        }
        for _ in 0..<3 { try send("login-failed", from: "192.0.2.250", untrusted: true) }
        try send("login", from: "192.0.2.250", untrusted: true)
        try send("login", from: "198.51.100.4")
        try send("login", from: "192.0.2.77")  // first-seen-source only
        for _ in 0..<3 { try send("login-failed", from: "203.0.113.88") }
        try send("login", from: "203.0.113.88")

        let crowdsec = try CrowdSecReplay()
        defer { crowdsec.stop() }
        let filters = try Self.shippedCrowdSecFilters("authsignal-verdicts.yaml").map {
            $0 == "_SYSTEMD_UNIT=authsignald.service" ? "AUTHSIGNAL_SENDER=\(sender)" : $0
        }
        #expect(filters.contains("AUTHSIGNAL_VERDICT=success-after-failures"), "\(filters)")
        let alerts = try crowdsec.replay(
            dsn: "journalctl://" + filters.map { "filters=\($0)" }.joined(separator: "&"), expecting: 1)
        #expect(alerts.map(\.scenario) == ["authsignal/authsignal-success-after-failures"], "\(alerts)")
        #expect(alerts.flatMap(\.decisions) == ["203.0.113.88"], "\(alerts)")
    }

    /// The `journalctl_filter` entries of a shipped acquisition file.
    static func shippedCrowdSecFilters(_ name: String = "authsignal.yaml") throws -> [String] {
        let file = try String(
            contentsOfFile: repositoryRoot + "/etc/crowdsec/acquis.d/" + name, encoding: .utf8)
        return file.split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- \"") && trimmed.hasSuffix("\"") else { return nil }
            return String(trimmed.dropFirst(3).dropLast())
        }
    }
}

/// Debian's crowdsec with a private configuration (its own database, Local API port and no
/// Central API) holding the upstream items the package enables plus authsignal's acquisition,
/// parser and scenarios; replays a journal DSN and reads the alerts from its database.
final class CrowdSecReplay {
    struct Alert: CustomStringConvertible {
        let scenario: String
        /// The address the alert is about.
        let source: String
        /// What its decisions ban.
        let decisions: [String]
        var description: String { "\(scenario) from \(source) → \(decisions)" }
    }

    let directory: TemporaryDirectory
    private var process: Process?

    init() throws {
        directory = try TemporaryDirectory()
        let root = directory.path
        // The packaged configuration, then ours: what an admin has after following docs/crowdsec.md.
        #expect(try runCommand("/bin/cp", ["-a", "/etc/crowdsec/.", root]).status == 0)
        let shipped = repositoryRoot + "/etc/crowdsec"
        for item in [
            "acquis.d/authsignal.yaml", "acquis.d/authsignal-verdicts.yaml", "parsers/s01-parse/authsignal-logs.yaml",
            "parsers/s01-parse/authsignal-verdicts.yaml", "scenarios/authsignal-bf.yaml",
            "scenarios/authsignal-spray.yaml", "scenarios/authsignal-spray-distributed.yaml",
            "scenarios/authsignal-success-after-failures.yaml",
        ] {
            try? FileManager.default.removeItem(atPath: "\(root)/\(item)")
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: "\(root)/\(item)").deletingLastPathComponent().path,
                withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(shipped)/\(item)", toPath: "\(root)/\(item)")
        }
        try? FileManager.default.removeItem(atPath: "\(root)/config.yaml.local")
        let port = try freeLoopbackPort()
        var config = try String(contentsOfFile: "/etc/crowdsec/config.yaml", encoding: .utf8)
            .replacingOccurrences(of: "/etc/crowdsec/", with: "\(root)/")
            .replacingOccurrences(of: "/var/lib/crowdsec/data/crowdsec.db", with: "\(root)/crowdsec.db")
            .replacingOccurrences(of: "log_dir: /var/log/", with: "log_dir: \(root)/")
            .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(port)")
            .replacingOccurrences(of: "prometheus:\n  enabled: true", with: "prometheus:\n  enabled: false")
        config = config.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("online_client:") && !$0.contains("online_api_credentials") }
            .joined(separator: "\n")
        try config.write(toFile: "\(root)/config.yaml", atomically: true, encoding: .utf8)
        let added = try runCommand(
            "/usr/bin/cscli",
            [
                "-c", "\(root)/config.yaml", "machines", "add", "authsignal-test", "--auto", "-f",
                "\(root)/local_api_credentials.yaml", "--url", "http://127.0.0.1:\(port)",
            ])
        #expect(added.status == 0, "\(added.output)")
    }

    /// `crowdsec -t`: the configuration, the shipped acquisition file among it, loads.
    func checkConfiguration() throws -> (status: Int32, output: String) {
        try runCommand("/usr/bin/crowdsec", ["-c", directory.path + "/config.yaml", "-t", "-no-capi"])
    }

    /// Replays `dsn` and waits until `expecting` alerts are stored (or 60 s have passed).
    func replay(dsn: String, expecting: Int) throws -> [Alert] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/crowdsec")
        process.arguments = ["-c", directory.path + "/config.yaml", "-dsn", dsn, "-type", "syslog", "-no-capi"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        var alerts: [Alert] = []
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            alerts = try stored()
            if alerts.count >= expecting { break }
            usleep(200_000)
        }
        return alerts
    }

    /// The alerts in crowdsec's database, each with the values of its decisions.
    private func stored() throws -> [Alert] {
        let script = """
            import json, sqlite3, sys
            try:
                db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
                rows = db.execute("select a.scenario, a.source_ip, group_concat(d.value) from alerts a "
                                  "left join decisions d on d.alert_decisions = a.id group by a.id").fetchall()
            except sqlite3.Error:
                rows = []
            print(json.dumps(rows))
            """
        let result = try runCommand("/usr/bin/python3", ["-c", script, directory.path + "/crowdsec.db"])
        let rows = (try? JSONSerialization.jsonObject(with: Data(result.output.utf8))) as? [[Any]] ?? []
        return rows.map { row in
            Alert(
                scenario: row[0] as? String ?? "", source: row[1] as? String ?? "",
                decisions: ((row[2] as? String) ?? "").split(separator: ",").map(String.init).sorted())
        }
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

/// A loopback TCP port that was free a moment ago (the kernel's choice for a socket bound to port 0).
func freeLoopbackPort() throws -> Int {
    let script = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    let result = try runCommand("/usr/bin/python3", ["-c", script])
    guard result.status == 0, let port = Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw DaemonTestError("no free loopback port: \(result.output)")
    }
    return port
}

/// Debian's node_exporter with only its textfile collector, on a loopback port of its choosing.
final class NodeExporter {
    private let process: Process
    private let log: TemporaryDirectory

    init(textfileDirectory: String) throws {
        log = try TemporaryDirectory()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-node-exporter")
        process.arguments = [
            "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", "--collector.textfile",
            "--collector.textfile.directory=\(textfileDirectory)",
        ]
        _ = FileManager.default.createFile(atPath: log.path + "/log", contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log.path + "/log"))
        try process.run()
    }

    /// GET /metrics, once node_exporter says where it listens.
    func scrape() throws -> String {
        var address = ""
        try waitFor("node_exporter to listen") {
            let text = (try? String(contentsOfFile: self.log.path + "/log", encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.contains("msg=\"Listening on\"") }),
                let found = line.split(separator: " ").first(where: { $0.hasPrefix("address=") })
            else { return false }
            address = String(found.dropFirst("address=".count))
            return true
        }
        let result = try runCommand("/usr/bin/curl", ["-sS", "--max-time", "10", "http://\(address)/metrics"])
        return result.output
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Cancels the test unless a journald listens and every tool is installed (scripts/test starts
/// the one and installs the others).
func requireJournald(andTools tools: String...) throws {
    guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
        try Test.cancel("no journald socket; scripts/test starts a private journald")
    }
    for tool in tools where !FileManager.default.isExecutableFile(atPath: tool) {
        try Test.cancel("\(tool) is not installed; scripts/test installs it")
    }
}

/// A fail2ban-server of the test's own (its own configuration, socket and database), whose only
/// jail uses the shipped filter and an action that writes banned addresses to a file: the host's
/// firewall is never touched.
final class Fail2banServer {
    let directory: TemporaryDirectory
    private let process: Process

    init(journalmatch: String) throws {
        directory = try TemporaryDirectory()
        let root = directory.path
        let manager = FileManager.default
        for sub in ["filter.d", "action.d", "jail.d"] {
            try manager.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
        }
        try manager.copyItem(atPath: "/etc/fail2ban/filter.d/common.conf", toPath: "\(root)/filter.d/common.conf")
        try manager.copyItem(
            atPath: repositoryRoot + "/etc/fail2ban/filter.d/authsignal.conf",
            toPath: "\(root)/filter.d/authsignal.conf")
        try """
        [Definition]
        loglevel = INFO
        logtarget = \(root)/fail2ban.log
        socket = \(root)/fail2ban.sock
        pidfile = \(root)/fail2ban.pid
        dbfile = :memory:
        """.write(toFile: "\(root)/fail2ban.conf", atomically: true, encoding: .utf8)
        try """
        [Definition]
        actionstart =
        actionstop =
        actioncheck =
        actionban = printf '%%s\\n' <ip> >> \(root)/banned
        actionunban =
        """.write(toFile: "\(root)/action.d/record.conf", atomically: true, encoding: .utf8)
        // The shipped jail, enabled, with this run's journalmatch and the recording action (its
        // first section: the jails after it are opt-in ones of their own).
        let jails = try String(contentsOfFile: repositoryRoot + "/etc/fail2ban/jail.d/authsignal.conf", encoding: .utf8)
        let second = try #require(jails.range(of: "\n[authsignal-")).lowerBound
        let shipped = String(jails[..<second]) + "\n"
        try
            (shipped.replacingOccurrences(of: "enabled = false", with: "enabled = true")
            .replacingOccurrences(
                of: "filter = authsignal", with: "filter = authsignal[journalmatch='\(journalmatch)']"
            )
            .replacingOccurrences(of: "maxretry = 5", with: "maxretry = 3")
            + "action = record\n")
            .write(toFile: "\(root)/jail.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/fail2ban-server")
        process.arguments = ["-f", "-x", "-c", root, "-s", "\(root)/fail2ban.sock", "-p", "\(root)/fail2ban.pid"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try waitFor("fail2ban-server to start the jail") { self.status().contains("Journal matches:") }
    }

    /// `fail2ban-client status authsignal`.
    func status() -> String {
        let result = try? runCommand(
            "/usr/bin/fail2ban-client",
            ["-c", directory.path, "-s", directory.path + "/fail2ban.sock", "status", "authsignal"])
        return result?.output ?? ""
    }

    /// The addresses the recording action banned, sorted.
    var banned: [String] {
        let text = (try? String(contentsOfFile: directory.path + "/banned", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).sorted()
    }

    /// Stops the server as an admin would (`fail2ban-client stop`); kills it if it lingers.
    func stop() {
        _ = try? runCommand(
            "/usr/bin/fail2ban-client", ["-c", directory.path, "-s", directory.path + "/fail2ban.sock", "stop"])
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
