import AuditJournal
import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Logging
import Systemd
import TestSupport
import Testing

@testable import AuthSignalAlerts

/// The alert service against a real audit log, a real outbox and real sink programs (shell
/// scripts that keep what they receive): what fires, how often, what survives a stop mid-delivery,
/// and what happens when a sink fails or hangs.
@Suite("Alerts: the service end to end", .serialized)
struct AlertServiceTests {
    /// An audit log, an outbox and a sink program that stores each message it gets in a file of
    /// its own under `deliveries/`.
    final class Fixture: Sendable {
        let directory: TemporaryDirectory
        let store: AuditStore
        let deliveries: String
        let keeper: String

        static let hook = PeerCredentials(uid: 0, gid: 0, pid: 4242)
        static let stranger = PeerCredentials(uid: 1000, gid: 1000, pid: 77)

        init(verdicts: VerdictSettings? = nil) throws {
            directory = try TemporaryDirectory()
            deliveries = directory.file("deliveries")
            try FileManager.default.createDirectory(atPath: deliveries, withIntermediateDirectories: true)
            var options = StoreOptions()
            options.verdicts = verdicts
            options.accountFacts = { _ in nil }
            store = try AuditStore(path: directory.file("audit.db"), options: options)
            keeper = try Self.script(
                in: directory, "keep",
                // Written whole, then renamed: a reader never sees half a message.
                "f=$(mktemp \(deliveries)/.partial.XXXXXX) && cat > \"$f\" && mv \"$f\" \"\(deliveries)/message.${f##*.}\" "
                    + "&& echo \"kept message.${f##*.}\"")
        }

        /// A sink program running `body` under /bin/sh.
        static func script(in directory: TemporaryDirectory, _ name: String, _ body: String) throws -> String {
            let path = directory.file(name)
            try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }

        func script(_ name: String, _ body: String) throws -> String { try Self.script(in: directory, name, body) }

        /// Settings with `rules` and an exec sink `keep` (plus `sinks`).
        func settings(_ rules: [AlertRule], sinks: [AlertSink] = []) -> AlertService.Settings {
            var alerts = AlertSettings()
            alerts.databasePath = directory.file("alerts.db")
            var keep = AlertSink(name: "keep", origin: SectionOrigin(file: "test", line: 1))
            keep.command = [keeper]
            alerts.sinks = [keep] + sinks
            alerts.rules = rules
            return AlertService.Settings(
                alerts: alerts, storePath: directory.file("audit.db"), trusted: TrustedSenders(uids: [0]))
        }

        /// The messages delivered so far, oldest first.
        func messages() throws -> [[String: Any]] {
            let names = try FileManager.default.contentsOfDirectory(atPath: deliveries).filter {
                $0.hasPrefix("message.")
            }
            let paths = names.map { deliveries + "/" + $0 }.sorted {
                let first =
                    (try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date) ?? .distantPast
                let second =
                    (try? FileManager.default.attributesOfItem(atPath: $1)[.modificationDate] as? Date) ?? .distantPast
                return first < second
            }
            return try paths.map { path in
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            }
        }

        /// Waits (up to 20 s) until `count` messages were delivered; returns them.
        func waitForMessages(_ count: Int) async throws -> [[String: Any]] {
            for _ in 0..<400 {
                let messages = try messages()
                if messages.count >= count { return messages }
                try await Task.sleep(for: .milliseconds(50))
            }
            return try messages()
        }

        func outbox() throws -> Outbox { try Outbox(path: directory.file("alerts.db"), readOnly: true) }

        static func event(
            _ signal: AuthSignal, _ user: String, from address: String? = "203.0.113.7", service: String = "sshd",
            peer: PeerCredentials = hook
        ) -> RedactedEvent {
            var request: JSONObject = ["service": .string(service), "tty": .string("ssh")]
            if let address { request["remote_addr"] = .string(address) }
            let redactor = Redactor(
                mode: .hmac, key: try! RedactionKey(bytes: Array(repeating: 7, count: 32)),
                isKnownAccount: { _ in true })
            return redactor.redact(
                AuthEvent(
                    signal: signal, sender: service, user: user, request: request,
                    credentials: signal == .userLoginFailed ? ["password": .string("hunter2")] : nil, time: nil,
                    id: nil),
                peer: peer)
        }
    }

    static func rule(_ name: String, _ configure: (inout AlertRule) -> Void) -> AlertRule {
        var rule = AlertRule(name: name, origin: SectionOrigin(file: "test", line: 1))
        rule.sinks = ["keep"]
        rule.groupWaitSeconds = 0
        rule.repeatIntervalSeconds = 0
        configure(&rule)
        return rule
    }

    /// Runs a service until `body` returns, then stops it as SIGTERM would.
    static func running(
        _ settings: AlertService.Settings, _ body: (AlertService) async throws -> Void
    ) async throws {
        let service = try AlertService(
            settings: settings, logger: Logger(label: "test"), tick: .milliseconds(20),
            healthInterval: .milliseconds(200))
        let task = Task { await service.run() }
        defer { task.cancel() }
        // The first round only notes where the log stands: alerts start with what follows.
        try await Task.sleep(for: .milliseconds(150))
        try await body(service)
        task.cancel()
        await task.value
    }

    @Test("a rule fires once per record and sink; the message explains it; a restart sends nothing again")
    func firesOnce() async throws {
        let fixture = try Fixture()
        let rules = [
            Self.rule("root-login") {
                $0.signals = [.userLoggedIn]; $0.users = ["root"]
            }
        ]
        try await fixture.store.append(Fixture.event(.userLoggedIn, "root", from: "198.51.100.4"))
        try await Self.running(fixture.settings(rules)) { _ in
            try await fixture.store.append(Fixture.event(.userLoggedIn, "alice"))
            try await fixture.store.append(Fixture.event(.userLoginFailed, "root"))
            // A forgery from an emitter that is not trusted fires nothing.
            try await fixture.store.append(Fixture.event(.userLoggedIn, "root", peer: Fixture.stranger))
            try await fixture.store.append(Fixture.event(.userLoggedIn, "root"))
            let messages = try await fixture.waitForMessages(1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try fixture.messages().count == 1)
            let message = try #require(messages.first)
            #expect(message["kind"] as? String == "alert" && message["rule"] as? String == "root-login")
            #expect(message["count"] as? Int == 1 && message["sink"] as? String == "keep")
            let alert = try #require((message["alerts"] as? [[String: Any]])?.first)
            #expect(alert["user"] as? String == "root" && alert["signal"] as? String == "login")
            #expect(alert["source"] as? String == "203.0.113.7" && alert["service"] as? String == "sshd")
            #expect(alert["seq"] as? Int == 5 && alert["trusted"] as? Bool == true)
            // The previous trusted login, not the forged one in between.
            let previous = try #require(alert["previous_login"] as? [String: Any])
            #expect(previous["source"] as? String == "198.51.100.4")
            let subject = try #require(message["subject"] as? String)
            #expect(subject.contains("root logged in from 203.0.113.7 via sshd") && subject.hasSuffix("(root-login)"))
            let text = try #require(message["text"] as? String)
            #expect(text.contains("Previous login: ") && text.contains("from 198.51.100.4"))
            // Stopped only once the delivery is marked sent: one cut short would rightly be sent
            // again (at least once), which is another test's point.
            let deadline = ContinuousClock.now + .seconds(10)
            while try fixture.outbox().recent(limit: 10).map(\.state) != ["sent"], ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        // Started again, the service finds everything sent and reads on from where it was.
        try await Self.running(fixture.settings(rules)) { _ in try await Task.sleep(for: .milliseconds(300)) }
        #expect(try fixture.messages().count == 1)
        let listed = try fixture.outbox().recent(limit: 10)
        #expect(listed.map(\.state) == ["sent"] && listed.first?.attempts == 0)
    }

    @Test("a flood of 10,000 failures from 1,000 sources makes one digest per window")
    func floodDigested() async throws {
        let fixture = try Fixture()
        let rules = [
            Self.rule("failures") {
                $0.signals = [.userLoginFailed]
                // The service reads 4,000 records a second (one batch a round): the window must
                // outlast reading all 10,000 even on a loaded machine.
                $0.groupWaitSeconds = 8
                $0.repeatIntervalSeconds = 3600
            }
        ]
        try await Self.running(fixture.settings(rules)) { _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<10_000 {
                    group.addTask {
                        let address = "198.51.\(index % 1000 / 250).\(index % 250)"
                        try await fixture.store.append(
                            Fixture.event(.userLoginFailed, "user\(index % 7)", from: address))
                    }
                    if index % 64 == 63 { try await group.next() }
                }
                try await group.waitForAll()
            }
            let messages = try await fixture.waitForMessages(1)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try fixture.messages().count == 1)
            let digest = try #require(messages.first)
            #expect(digest["kind"] as? String == "digest" && digest["count"] as? Int == 10_000)
            #expect((digest["alerts"] as? [Any])?.count == AlertMessage.detailLimit)
            #expect(digest["omitted"] as? Int == 10_000 - AlertMessage.detailLimit)
            #expect((digest["counts"] as? [String: Int]) == ["failed": 10_000])
            let sources = try #require(digest["top_sources"] as? [[String: Any]])
            #expect(sources.count == 5 && sources.allSatisfy { $0["count"] as? Int == 10 })
            #expect((digest["text"] as? String)?.contains("Rule failures fired 10000 times") == true)
        }
    }

    @Test("a sink that fails is retried with back-off, given up after MaxAttempts, and that is alerted")
    func deadLettersAlerted() async throws {
        let fixture = try Fixture()
        var broken = AlertSink(name: "broken", origin: SectionOrigin(file: "test", line: 1))
        broken.command = [try fixture.script("refuse", "echo 'relay refused: 554 no' >&2; exit 75")]
        broken.maxAttempts = 2
        broken.retrySeconds = 1
        let rules = [
            Self.rule("root-login") {
                $0.signals = [.userLoggedIn]
                $0.sinks = ["broken"]
            },
            Self.rule("audit-health") { $0.health = [.undeliverableAlerts] },
        ]
        try await Self.running(fixture.settings(rules, sinks: [broken])) { _ in
            try await fixture.store.append(Fixture.event(.userLoggedIn, "root"))
            let messages = try await fixture.waitForMessages(1)
            let health = try #require(messages.first)
            let alert = try #require((health["alerts"] as? [[String: Any]])?.first)
            #expect(alert["kind"] as? String == "health" && alert["condition"] as? String == "undeliverable-alerts")
            let detail = try #require(alert["detail"] as? String)
            #expect(detail.contains("rule root-login could not be delivered to sink broken after 2 attempts"))
            #expect(detail.contains("exited with status 75: relay refused: 554 no"))
        }
        let dead = try fixture.outbox().recent(limit: 10, state: "dead")
        #expect(dead.count == 1 && dead.first?.attempts == 2 && dead.first?.rule == "root-login")
    }

    @Test("a hung sink is stopped at its time-out; a service stopped mid-delivery sends it again after")
    func hungAndInterrupted() async throws {
        let fixture = try Fixture()
        let started = fixture.directory.file("started")
        var hanging = AlertSink(name: "hang", origin: SectionOrigin(file: "test", line: 1))
        hanging.command = [try fixture.script("hang", "echo $$ >> \(started); sleep 30 & wait")]
        hanging.timeoutSeconds = 1
        hanging.retrySeconds = 3600
        let rules = [
            Self.rule("root-login") {
                $0.signals = [.userLoggedIn]; $0.sinks = ["hang"]
            }
        ]
        // Timed out: counted as a failed attempt, the program and its child stopped.
        try await Self.running(fixture.settings(rules, sinks: [hanging])) { _ in
            try await fixture.store.append(Fixture.event(.userLoggedIn, "root"))
            for _ in 0..<100 where try fixture.outbox().recent(limit: 1).first?.attempts != 1 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let timedOut = try #require(try fixture.outbox().recent(limit: 1).first)
        #expect(timedOut.state == "pending" && timedOut.attempts == 1)
        #expect(timedOut.lastError?.contains("did not finish within 1 sec") == true)
        // Stopped by SIGTERM to its process group (SIGKILL 2 s later): under load the signal can
        // come a while after the attempt is counted, so wait for it rather than a fixed moment.
        for _ in 0..<50 where try runCommand("/usr/bin/pgrep", ["-f", "sleep 30"]).status == 0 {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try runCommand("/usr/bin/pgrep", ["-f", "sleep 30"]).status != 0, "the sink's child was stopped")

        // Stopped while the sink runs (another rule, so no back-off holds it): the alert stays
        // pending, and goes out at the next start through the sink as it is configured then.
        hanging.timeoutSeconds = 60
        let second = [
            Self.rule("root-login-2") {
                $0.signals = [.userLoggedIn]; $0.sinks = ["hang"]
            }
        ]
        try await Self.running(fixture.settings(rules + second, sinks: [hanging])) { _ in
            try await fixture.store.append(Fixture.event(.userLoggedIn, "root", from: "198.51.100.9"))
            for _ in 0..<100
            where (try? String(contentsOfFile: started, encoding: .utf8))?.split(separator: "\n").count ?? 0 < 2 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(try String(contentsOfFile: started, encoding: .utf8).split(separator: "\n").count == 2)
        // Both rules fired on the second login; root-login's group still waits out its back-off.
        #expect(
            try fixture.outbox().recent(limit: 10, state: "pending").map(\.rule) == [
                "root-login-2", "root-login", "root-login",
            ])
        var fixed = hanging
        fixed.command = [fixture.keeper]
        try await Self.running(fixture.settings(rules + second, sinks: [fixed])) { _ in
            let delivered = try await fixture.waitForMessages(1)
            #expect(delivered.count == 1 && delivered.first?["rule"] as? String == "root-login-2")
            let alert = try #require((delivered.first?["alerts"] as? [[String: Any]])?.first)
            #expect(alert["source"] as? String == "198.51.100.9")
            // The sink has written the message; the service records the delivery when the sink
            // exits. Stopped before that, it would (rightly) send it again at the next start.
            for _ in 0..<400
            where try fixture.outbox().recent(limit: 10, state: "pending").contains(where: {
                $0.rule == "root-login-2"
            }) {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // root-login's wait out the back-off of its group (an hour).
        #expect(try fixture.outbox().recent(limit: 10, state: "pending").map(\.rule) == ["root-login", "root-login"])
    }

    @Test("verdicts: a success after failures fires its rule with the reason, once the judge has it")
    func verdictRule() async throws {
        var verdicts = VerdictSettings()
        verdicts.enabled = [.successAfterFailures]
        verdicts.failureThreshold = 3
        let fixture = try Fixture(verdicts: verdicts)
        await fixture.store.verdictsLearned()
        let rules = [Self.rule("brute-then-in") { $0.verdicts = [.successAfterFailures] }]
        try await Self.running(fixture.settings(rules)) { _ in
            for _ in 0..<3 { try await fixture.store.append(Fixture.event(.userLoginFailed, "alice")) }
            try await fixture.store.append(Fixture.event(.userLoggedIn, "alice"))
            let messages = try await fixture.waitForMessages(1)
            let alert = try #require((messages.first?["alerts"] as? [[String: Any]])?.first)
            let verdict = try #require((alert["verdicts"] as? [[String: Any]])?.first)
            #expect(verdict["code"] as? String == "success-after-failures")
            let reason = try #require(verdict["reason"] as? String)
            #expect(reason.contains("after failed logins within 600 s: 3 failures against alice"), "\(reason)")
            #expect((messages.first?["text"] as? String)?.contains("Verdict success-after-failures: ") == true)
        }
    }

    @Test("health: a failed scheduled verify and root's report of a lost event are alerted; a user's is not")
    func healthAlerts() async throws {
        let fixture = try Fixture()
        let rules = [Self.rule("audit-health") { $0.health = [.verifyFailed, .hookLost] }]
        try VerifyStatus(time: "2026-12-07T03:00:00Z", result: .tampered, detail: "TAMPERED: first bad record 12")
            .write(to: VerifyStatus.path(forStore: fixture.directory.file("audit.db")))
        let report =
            "MESSAGE=authsignal pam: user_logged_in from su-closed lost: e2e\nSYSLOG_IDENTIFIER=authsignal-pam\nAUTHSIGNAL_HOOK_RESULT=lost\n"
        let forged = fixture.directory.file("forged")
        try report.replacingOccurrences(of: "e2e", with: "forged").write(
            toFile: forged, atomically: true, encoding: .utf8)
        let genuine = fixture.directory.file("genuine")
        try report.write(toFile: genuine, atomically: true, encoding: .utf8)
        try await Self.running(fixture.settings(rules)) { _ in
            let user = try runCommand(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/logger", "--journald=\(forged)"])
            let root = try runCommand("/usr/bin/logger", ["--journald=\(genuine)"])
            #expect(user.status == 0 && root.status == 0, "\(user.output) \(root.output)")
            let messages = try await fixture.waitForMessages(2)
            try await Task.sleep(for: .milliseconds(600))
            let alerts = try fixture.messages().flatMap { $0["alerts"] as? [[String: Any]] ?? [] }
            let details = alerts.compactMap { $0["detail"] as? String }.sorted()
            #expect(messages.count == 2 && details.count == 2, "\(details)")
            #expect(
                details.first
                    == "The PAM hook lost 1 event(s): neither stored nor spooled. The last: authsignal pam: user_logged_in from su-closed lost: e2e"
            )
            #expect(
                details.last
                    == "The scheduled verify of the audit log at 2026-12-07T03:00:00Z found it tampered: TAMPERED: first bad record 12"
            )
        }
    }

    @Test("health on a collector: a host not heard from is alerted once through the sinks; a host heard is not")
    func silentHostAlerts() async throws {
        let fixture = try Fixture()
        let collected = fixture.directory.file("collected")
        try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
        func anchor(seq: Int) -> [String: String] {
            [
                "_SYSTEMD_UNIT": "authsignald.service", "SYSLOG_IDENTIFIER": "authsignald",
                "MESSAGE_ID": "f02c7b5697994cf6ac6fcd838ff96e8f", "MESSAGE": "chain anchor",
                "AUTHSIGNAL_SEQ": String(seq), "AUTHSIGNAL_HASH": String(repeating: "ab", count: 32),
                "AUTHSIGNAL_LOG_ID": "log-\(seq)",
            ]
        }
        // web1 last spoke in November 2023; web2 a moment ago.
        try writeJournalFile(collected + "/remote-web1.journal", entries: [anchor(seq: 1)])
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        try writeJournalFile(collected + "/remote-web2.journal", entries: [anchor(seq: 2)], start: now)
        var settings = fixture.settings([Self.rule("fleet-health") { $0.health = [.hostSilent] }])
        settings.alerts.fleetDirectory = collected
        settings.alerts.fleetSilentAfterSeconds = 600
        try await Self.running(settings) { _ in
            _ = try await fixture.waitForMessages(1)
            // Several more looks: the same silence is not alerted again.
            try await Task.sleep(for: .milliseconds(800))
            let alerts = try fixture.messages().flatMap { $0["alerts"] as? [[String: Any]] ?? [] }
            #expect(alerts.count == 1, "\(alerts)")
            #expect(alerts.first?["condition"] as? String == "host-silent", "\(alerts)")
            let detail = alerts.first?["detail"] as? String ?? ""
            #expect(detail.hasPrefix("Host web1 was not heard from for "), "\(detail)")
        }
    }

    /// Stores `events` in `store`, a host's audit log, and writes their journal entries as its
    /// daemon does into the collector's file for `host` in `collected` (appending to it).
    static func collect(_ events: [RedactedEvent], in store: AuditStore, as host: String, into collected: String)
        async throws
    {
        var entries: [[String: String]] = []
        for event in events {
            let seq = try await store.append(event).seq
            var filter = RecordFilter(afterSeq: seq - 1)
            filter.limit = 1
            guard let record = try await store.records(matching: filter).first(where: { _ in true }) else {
                Issue.record("record \(seq) not read back")
                return
            }
            let entry = AuditJournal.entry(for: record, trustedSender: true, logID: "log-\(host)")
            var fields: [String: String] = [:]
            for (name, value) in entry.fields { fields[name.name] = String(decoding: value, as: UTF8.self) }
            fields["_SYSTEMD_UNIT"] = TrustedJournalWriter.serviceUnit
            entries.append(fields)
        }
        try writeJournalFile(
            collected + "/remote-\(host).journal", entries: entries, start: UInt64(Date().timeIntervalSince1970 * 1e6))
    }

    @Test("a collector alerts on its hosts' records: fleet verdicts, history left out, once across a restart")
    func collectedRecordsAlert() async throws {
        let fixture = try Fixture()
        let collected = fixture.directory.file("collected")
        try FileManager.default.createDirectory(atPath: collected, withIntermediateDirectories: true)
        // The hosts' own logs; the collector's (the fixture's) stays empty.
        let web1 = try AuditStore(path: fixture.directory.file("web1.db"))
        let web2 = try AuditStore(path: fixture.directory.file("web2.db"))
        // History, received before the service first read the fleet: learned, never alerted.
        let failure = Fixture.event(.userLoginFailed, "root", from: "192.0.2.50")
        try await Self.collect([failure, failure], in: web1, as: "web1", into: collected)
        try await Self.collect(
            [Fixture.event(.userLoggedIn, "alice", from: "198.51.100.4")], in: web2, as: "web2", into: collected)
        var settings = fixture.settings([
            Self.rule("brute-then-in") { $0.verdicts = [.successAfterFailures] },
            Self.rule("alice") {
                $0.signals = [.userLoggedIn]
                $0.users = ["alice"]
            },
        ])
        settings.alerts.fleetDirectory = collected
        settings.verdicts.failureThreshold = 3
        try await Self.running(settings) { _ in
            // web2: the third failure, then root in. web2 saw one failure; the fleet, three.
            try await Self.collect(
                [failure, Fixture.event(.userLoggedIn, "root", from: "192.0.2.50")], in: web2, as: "web2",
                into: collected)
            let messages = try await fixture.waitForMessages(1)
            try await Task.sleep(for: .milliseconds(300))
            let all = try fixture.messages()
            #expect(all.count == 1, "\(all)")
            let alert = try #require((messages.first?["alerts"] as? [[String: Any]])?.first)
            #expect(messages.first?["rule"] as? String == "brute-then-in")
            #expect(alert["host"] as? String == "web2" && alert["user"] as? String == "root", "\(alert)")
            let verdicts = alert["verdicts"] as? [[String: Any]] ?? []
            #expect(verdicts.map { "\($0["code"] ?? "")@\($0["scope"] ?? "")" } == ["success-after-failures@fleet"])
            let reason = verdicts.first?["reason"] as? String ?? ""
            #expect(reason.contains("on 2 hosts of the fleet (web1, web2)"), "\(reason)")
            let subject = messages.first?["subject"] as? String ?? ""
            #expect(subject.contains("root logged in from 192.0.2.50 via sshd (tty ssh) on web2"), "\(subject)")
        }
        // Started again: nothing alerted twice; alice's login on web1 goes to its rule, with her
        // previous login, on web2, learned from the history read again.
        try await Self.running(settings) { _ in
            try await Self.collect(
                [Fixture.event(.userLoggedIn, "alice", from: "198.51.100.7")], in: web1, as: "web1", into: collected)
            let messages = try await fixture.waitForMessages(2)
            try await Task.sleep(for: .milliseconds(300))
            let all = try fixture.messages()
            #expect(all.count == 2, "\(all)")
            let alert = try #require((messages.last?["alerts"] as? [[String: Any]])?.first)
            #expect(messages.last?["rule"] as? String == "alice" && alert["host"] as? String == "web1", "\(alert)")
            let previous = alert["previous_login"] as? [String: Any] ?? [:]
            #expect(previous["host"] as? String == "web2" && previous["source"] as? String == "198.51.100.4")
        }
        try await web1.close()
        try await web2.close()
    }

    @Test("replay: a rule over stored history, as the service would have grouped it, sending nothing")
    func replay() async throws {
        let fixture = try Fixture()
        try await fixture.store.append(Fixture.event(.userLoggedIn, "alice", from: "198.51.100.4"))
        for _ in 0..<3 { try await fixture.store.append(Fixture.event(.userLoggedIn, "root")) }
        try await fixture.store.append(Fixture.event(.userLoggedIn, "root", peer: Fixture.stranger))
        let rule = Self.rule("root-login") {
            $0.signals = [.userLoggedIn]
            $0.users = ["root"]
            $0.groupWaitSeconds = 30
        }
        let log = try ReadOnlyAuditLog(path: fixture.directory.file("audit.db"), trusted: TrustedSenders(uids: [0]))
        let sent = try await AlertReplay.messages(
            rule: rule, log: log, trusted: TrustedSenders(uids: [0]), host: "web1", since: nil, until: nil)
        #expect(sent.count == 1 && sent.first?.message.count == 3 && sent.first?.message.kind == "digest")
        #expect(sent.first?.message.alerts.map(\.seq) == [2, 3, 4])
        #expect(
            try fixture.messages().isEmpty
                && !FileManager.default.fileExists(atPath: fixture.directory.file("alerts.db")))
    }

    @Test("a receiver that is down comes back: every alert waiting for it delivered once, none lost")
    func receiverDownThenUp() async throws {
        let fixture = try Fixture()
        let down = fixture.directory.file("down")
        #expect(FileManager.default.createFile(atPath: down, contents: nil))
        // The receiver refuses while `down` exists, and keeps what it gets once it is back.
        var flaky = AlertSink(name: "flaky", origin: SectionOrigin(file: "test", line: 1))
        flaky.command = [
            try fixture.script(
                "flaky", "[ -e \(down) ] && { echo 'connection refused'; exit 1; }; exec \(fixture.keeper)")
        ]
        flaky.retrySeconds = 1
        flaky.maxAttempts = 20
        let rules = [
            Self.rule("root-login") {
                $0.signals = [.userLoggedIn]; $0.sinks = ["flaky"]
            }
        ]
        try await Self.running(fixture.settings(rules, sinks: [flaky])) { _ in
            for index in 0..<5 {
                try await fixture.store.append(Fixture.event(.userLoggedIn, "root", from: "198.51.100.\(index)"))
            }
            // Down for three failed attempts (1 s, then 2 s apart), while more logins come.
            for _ in 0..<200 where try fixture.outbox().recent(limit: 1).first?.attempts ?? 0 < 3 {
                try await Task.sleep(for: .milliseconds(50))
            }
            for index in 5..<10 {
                try await fixture.store.append(Fixture.event(.userLoggedIn, "root", from: "198.51.100.\(index)"))
            }
            try FileManager.default.removeItem(atPath: down)
            let messages = try await fixture.waitForMessages(1)
            try await Task.sleep(for: .milliseconds(500))
            let sources = try fixture.messages().flatMap {
                ($0["alerts"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
            }
            #expect(sources.sorted() == (0..<10).map { "198.51.100.\($0)" }.sorted(), "\(messages.count) messages")
        }
        let states = try fixture.outbox().recent(limit: 20)
        #expect(states.count == 10 && states.allSatisfy { $0.state == "sent" })
        #expect(states.filter { $0.attempts >= 3 }.count == 5, "the first five waited out three failures")
    }
}
