import AuthSignalCore
import AuthSignalProtocol
import Foundation
import TestSupport
import Testing

/// `[Alert NAME]` and `[Sink NAME]`: every key read, drop-ins amending a section, and each bad
/// rule refused with the line that is wrong.
@Suite("Alerts: rules and sinks in the configuration")
struct AlertSettingsTests {
    static let example = """
        [Alerts]
        Database=alerts.db
        DiskUsagePercent=80

        [Alert root-login]
        Signals=login
        Users=root
        Services=sshd login
        IgnoreSources=10.0.0.0/8 2001:db8::/32
        Sinks=ops-mail hook
        GroupWaitSec=10
        RepeatIntervalSec=60
        Digest=always

        [Alert brute-force]
        Verdicts=success-after-failures first-seen-source
        Groups=sudo 27
        Sources=203.0.113.0/24
        IgnoreUsers=backup
        Senders=any
        Sinks=hook

        [Alert audit-health]
        Health=disk-usage undeliverable-alerts
        Sinks=ops-mail

        [Sink ops-mail]
        Type=mail
        To=root security@example.org
        From=authsignal@example.org
        TimeoutSec=20

        [Sink hook]
        Type=exec
        Command=/usr/local/bin/page --team sec
        Concurrency=4
        MaxAttempts=3
        RetrySec=5

        [Sink chat]
        Type=webhook
        URLCredential=chat-url
        AuthorizationCredential=chat-token
        Template={"text": "{{subject}}"}
        CACertificate=ca.pem
        """

    static func load(_ files: [String: String]) throws -> DaemonConfig {
        let directory = try TemporaryDirectory()
        let main = directory.file("authsignald.conf")
        try files["main", default: ""].write(toFile: main, atomically: true, encoding: .utf8)
        let dropIns = main + ".d"
        for (name, text) in files where name != "main" {
            try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
            try text.write(toFile: dropIns + "/" + name, atomically: true, encoding: .utf8)
        }
        return try DaemonConfig.load(path: main, required: true)
    }

    static func problems(_ text: String) throws -> [String] {
        do {
            _ = try load(["main": text])
            return []
        } catch let error as ConfigError {
            return error.problems.map { "\($0.line): \($0.message)" }
        }
    }

    @Test func everyKeyIsRead() throws {
        let config = try Self.load(["main": Self.example])
        let alerts = config.alerts
        #expect(alerts.databasePath.hasSuffix("/alerts.db") && alerts.databasePath.hasPrefix("/"))
        #expect(alerts.diskUsagePercent == 80)
        #expect(alerts.rules.map(\.name) == ["root-login", "brute-force", "audit-health"])
        let root = alerts.rules[0]
        #expect(root.signals == [.userLoggedIn] && root.users == ["root"] && root.services == ["sshd", "login"])
        #expect(root.ignoreSources.map(\.description) == ["10.0.0.0/8", "2001:db8::/32"])
        #expect(root.sinks == ["ops-mail", "hook"] && root.digest == .always)
        #expect([root.groupWaitSeconds, root.repeatIntervalSeconds] as [Int] == [10, 60])
        #expect(root.senders == .trusted)
        let brute = alerts.rules[1]
        #expect(brute.verdicts == [.successAfterFailures, .firstSeenSource] && brute.groups == ["sudo", "27"])
        #expect(brute.sources.map(\.description) == ["203.0.113.0/24"] && brute.ignoreUsers == ["backup"])
        #expect(brute.senders == .any && brute.signals.isEmpty)
        #expect(alerts.rules[2].health == [.diskUsage, .undeliverableAlerts])
        let mail = try #require(alerts.sink(named: "ops-mail"))
        #expect(mail.type == .mail && mail.to == ["root", "security@example.org"] && mail.timeoutSeconds == 20)
        #expect(mail.program == ["/usr/sbin/sendmail"] && mail.from == "authsignal@example.org")
        let hook = try #require(alerts.sink(named: "hook"))
        #expect(hook.program == ["/usr/local/bin/page", "--team", "sec"])
        #expect([hook.concurrency, hook.maxAttempts, hook.retrySeconds] as [Int] == [4, 3, 5])
        let chat = try #require(alerts.sink(named: "chat"))
        #expect(chat.type == .webhook && chat.urlCredential == "chat-url" && chat.url == nil)
        #expect(chat.authorizationCredential == "chat-token" && chat.template == #"{"text": "{{subject}}"}"#)
        #expect(chat.caCertificate?.hasSuffix("/ca.pem") == true && chat.caCertificate?.hasPrefix("/") == true)
        // Shown as a reload compares them, and printed by --check-config.
        #expect(config.settings["Alert root-login.Users"] == "root")
        #expect(config.settings["Sink hook.Command"] == "/usr/local/bin/page --team sec")
        #expect(config.settingNames.contains("Alert audit-health.Health"))
    }

    @Test("a drop-in amends a rule the main file defines, and adds its own")
    func dropInsAmend() throws {
        let config = try Self.load([
            "main": Self.example,
            "50-local.conf": """
            [Alert root-login]
            Users=root admin
            [Alert su]
            Signals=login
            Services=su
            Sinks=hook
            """,
        ])
        #expect(config.alerts.rules.map(\.name) == ["root-login", "brute-force", "audit-health", "su"])
        #expect(config.alerts.rules[0].users == ["root", "admin"] && config.alerts.rules[0].signals == [.userLoggedIn])
    }

    @Test("each bad rule or sink is refused with its line")
    func badRulesNamed() throws {
        #expect(
            try Self.problems("[Alert x]\nSignals=login\nSinks=nowhere\n") == [
                "1: [Alert x] names sink nowhere, which no [Sink nowhere] section defines (none is defined)"
            ])
        #expect(
            try Self.problems("[Sink s]\nType=exec\nCommand=/bin/true\n[Alert x]\nUsers=root\nSinks=s\n") == [
                "4: [Alert x] fires on nothing: set Signals=, Verdicts= or Health="
            ])
        #expect(
            try Self.problems(
                "[Sink s]\nType=exec\nCommand=/bin/true\n[Alert x]\nHealth=disk-usage\nSignals=login\nSinks=s\n")
                == ["4: [Alert x] mixes Health= with Signals=/Verdicts=: use a rule for each"])
        #expect(
            try Self.problems("[Sink m]\nType=mail\n[Alert x]\nSignals=login\nSinks=m\n") == [
                "1: [Sink m] of Type=mail needs To="
            ])
        #expect(
            try Self.problems("[Alert x]\nSources=10.0.0.300/8\n").first
                == "2: Alert x.Sources: 10.0.0.300/8 is not an address or network such as 203.0.113.0/24")
        #expect(
            try Self.problems("[Alert x]\nSignal=login\n").first?.hasPrefix(
                "2: unknown key Signal in [Alert x]; expected one of Signals,") == true)
        #expect(
            try Self.problems("[Alert x]\nVerdicts=brute\n").first?.hasPrefix(
                "2: Alert x.Verdicts: unknown verdict brute") == true)
        #expect(
            try Self.problems("[Sink s]\nCommand=page --now\n").first
                == "2: Sink s.Command: expected an absolute program path and its arguments (no shell)")
        #expect(
            try Self.problems("[Sink s]\nType=webhook2\n").first?.hasPrefix(
                "2: Sink s.Type: expected exec, mail, apprise") == true)
        #expect(
            try Self.problems("[Alert bad name!]\n").first?.hasPrefix("1: unknown section [Alert bad name!];") == true)
        #expect(
            try Self.problems("[Sink w]\nType=webhook\n[Alert x]\nSignals=login\nSinks=w\n") == [
                "1: [Sink w] of Type=webhook needs one of URL= or URLCredential="
            ])
        #expect(
            try Self.problems("[Sink w]\nURL=ftp://example.org/x\n").first
                == "2: Sink w.URL: expected an http:// or https:// address")
        #expect(
            try Self.problems("[Sink w]\nTemplate={\"t\": \"{{subjct}}\"}\n").first?.hasPrefix(
                "2: Sink w.Template: unknown placeholder {{subjct}}; expected {{subject}}, {{text}},") == true)
    }

    @Test("networks: IPv4, IPv6, mapped IPv4, single addresses, host bits")
    func addressRanges() throws {
        let net = try #require(AddressRange("203.0.113.7/24"))
        #expect(net.contains("203.0.113.200") && !net.contains("203.0.114.1") && net.contains("::ffff:203.0.113.9"))
        let v6 = try #require(AddressRange("2001:db8::/32"))
        #expect(v6.contains("2001:db8:1::5") && !v6.contains("2001:db9::1") && !v6.contains("203.0.113.7"))
        let single = try #require(AddressRange("198.51.100.4"))
        #expect(single.contains("198.51.100.4") && !single.contains("198.51.100.5") && !single.contains("host.example"))
        #expect(AddressRange("0.0.0.0/0")?.contains("8.8.8.8") == true)
        for bad in ["", "10.0.0.0/33", "10.0.0.0/", "example.org", "10.0.0.0/8/8", "::/129", "10.0.0.0/+8"] {
            #expect(AddressRange(bad) == nil, "\(bad)")
        }
    }
}
