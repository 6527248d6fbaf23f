package import AuthSignalProtocol
import Foundation

/// Who is told what, and how (`[Alerts]`, `[Alert NAME]` and `[Sink NAME]` in authsignald.conf;
/// docs/alerts.md). The alert service (authsignal-alerts) acts on them; the daemon only checks
/// them, so that a bad rule is refused by whichever starts or reloads first.
package struct AlertSettings: Sendable, Hashable {
    /// The alert service's outbox: the alerts, their delivery state and how far it has read.
    package var databasePath = "/var/lib/authsignald/alerts.db"
    /// `health` alerts fire when the audit log's file system is this full, in percent.
    package var diskUsagePercent = 75
    /// On a fleet's collector, its directory of collected journal files: the record rules fire on
    /// the hosts' records in it too, and `host-silent` and `host-anchors-disagree` look at each
    /// host in it (docs/fleet.md). `nil`: not a collector.
    package var fleetDirectory: String?
    /// A collected host not heard from for this long is silent.
    package var fleetSilentAfterSeconds = 900
    /// The rules, in the order the files define them.
    package var rules: [AlertRule] = []
    /// The sinks, in the order the files define them.
    package var sinks: [AlertSink] = []

    /// The defaults: no rule, no sink.
    package init() {}

    /// The sink named `name`.
    package func sink(named name: String) -> AlertSink? { sinks.first { $0.name == name } }

    /// What is wrong with the rules and sinks as a whole (a rule naming a sink that is not
    /// defined, a sink without what its type needs), each at the line of its section's header.
    func problems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for rule in rules {
            func problem(_ message: String) {
                problems.append(ConfigProblem(file: rule.origin.file, line: rule.origin.line, message: message))
            }
            if rule.signals.isEmpty && rule.verdicts.isEmpty && rule.health.isEmpty {
                problem("[Alert \(rule.name)] fires on nothing: set Signals=, Verdicts= or Health=")
            }
            if !rule.health.isEmpty && !(rule.signals.isEmpty && rule.verdicts.isEmpty) {
                problem("[Alert \(rule.name)] mixes Health= with Signals=/Verdicts=: use a rule for each")
            }
            if rule.sinks.isEmpty { problem("[Alert \(rule.name)] has no Sinks=") }
            for name in rule.sinks where sink(named: name) == nil {
                let known = sinks.isEmpty ? "none is defined" : "defined: " + sinks.map(\.name).joined(separator: ", ")
                problem("[Alert \(rule.name)] names sink \(name), which no [Sink \(name)] section defines (\(known))")
            }
        }
        for sink in sinks {
            if let missing = sink.missingSetting {
                problems.append(
                    ConfigProblem(
                        file: sink.origin.file, line: sink.origin.line,
                        message: "[Sink \(sink.name)] of Type=\(sink.type.rawValue) needs \(missing)"))
            }
        }
        return problems
    }
}

/// Where a named section was defined (first), for messages about it as a whole.
package struct SectionOrigin: Sendable, Hashable {
    /// The file.
    package var file: String
    /// The line of its `[Alert NAME]` or `[Sink NAME]` header.
    package var line: Int

    package init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
}

/// One `[Alert NAME]` section: which records (or which failures of the audit path itself) fire
/// it, where its alerts go, and how often.
package struct AlertRule: Sendable, Hashable {
    /// How a rule's waiting alerts are sent.
    package enum Digest: String, Sendable, Hashable, CaseIterable {
        /// One alert alone is sent as itself; more as one digest.
        case auto
        /// Always a digest, even of one.
        case always
    }

    /// Whose events may fire a rule.
    package enum Senders: String, Sendable, Hashable, CaseIterable {
        /// Trusted senders' only (`[Access] TrustedUsers`): an emitter cannot page anyone with a
        /// forged login.
        case trusted
        /// Anyone's.
        case any
    }

    /// The section's name.
    package let name: String
    /// Where it is defined.
    package let origin: SectionOrigin
    /// Fires on these signals (any, when empty and ``verdicts`` is set).
    package var signals: Set<AuthSignal> = []
    /// Fires on logins with any of these verdicts.
    package var verdicts: Set<VerdictCode> = []
    /// Fires on these failures of the audit path instead of on records.
    package var health: Set<HealthCondition> = []
    /// Only these accounts (names as the log stores them); any when empty.
    package var users: [String] = []
    /// Only accounts in one of these groups (names or gids); any when empty.
    package var groups: [String] = []
    /// Only these PAM services (`request.service`); any when empty.
    package var services: [String] = []
    /// Only events from these networks; any when empty.
    package var sources: [AddressRange] = []
    /// Never these accounts.
    package var ignoreUsers: [String] = []
    /// Never events from these networks (an allow-list of expected sources).
    package var ignoreSources: [AddressRange] = []
    /// Whose events count.
    package var senders = Senders.trusted
    /// The sinks its alerts go to.
    package var sinks: [String] = []
    /// Seconds the first alert of a group waits for others to join it.
    package var groupWaitSeconds = 30
    /// Seconds at least between two messages of the rule to one sink; alerts meanwhile wait and
    /// go together.
    package var repeatIntervalSeconds = 300
    /// How a group is sent.
    package var digest = Digest.auto

    /// A rule with the defaults, defined at `origin`.
    package init(name: String, origin: SectionOrigin) {
        self.name = name
        self.origin = origin
    }

    /// Every key in canonical form, `Alert NAME.Key`: what a reload compares.
    package var settings: [String: String] {
        var result: [String: String] = [:]
        for key in AlertKeys.rule { result["Alert \(name).\(key.name)"] = key.read(self) }
        return result
    }
}

/// A failure of the audit path that a `Health=` rule alerts on (PCI DSS 10.7.2).
package enum HealthCondition: String, Sendable, Hashable, CaseIterable {
    /// The audit log's file system is fuller than `[Alerts] DiskUsagePercent`.
    case diskUsage = "disk-usage"
    /// An alert could not be delivered after its sink's every attempt.
    case undeliverableAlerts = "undeliverable-alerts"
    /// The scheduled `authsignal verify` (authsignal-verify.timer) found the log tampered with,
    /// or could not check it.
    case verifyFailed = "verify-failed"
    /// journald refused chain anchors: the journal no longer vouches for the newest records.
    case anchorFailures = "anchor-failures"
    /// The PAM hook's spool grows and the daemon does not store it.
    case spoolGrowing = "spool-growing"
    /// The PAM hook could not deliver events in time and spooled them.
    case hookSpooled = "hook-spooled"
    /// The PAM hook lost events: neither delivered nor spooled.
    case hookLost = "hook-lost"
    /// A host of the collector's `FleetDirectory` was not heard from for `FleetSilentAfterSec`.
    case hostSilent = "host-silent"
    /// A host of the collector's `FleetDirectory` anchored a record with two hashes, or its log
    /// went back.
    case hostAnchorsDisagree = "host-anchors-disagree"
}

/// One `[Sink NAME]` section: a way to reach a person.
package struct AlertSink: Sendable, Hashable {
    /// How a sink delivers.
    package enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Runs `Command` with the alert as JSON on standard input.
        case exec
        /// Hands a mail to `/usr/sbin/sendmail` (any MTA's).
        case mail
        /// Runs Debian's `apprise` with a configuration file of notification URLs.
        case apprise
        /// POSTs JSON over HTTP(S) through curl, TLS verified.
        case webhook
    }

    /// The section's name.
    package let name: String
    /// Where it is defined.
    package let origin: SectionOrigin
    /// How it delivers.
    package var type = Kind.exec
    /// The program and its arguments (no shell); `nil` for the type's default.
    package var command: [String]?
    /// `mail`: the recipients.
    package var to: [String] = []
    /// `mail`: the sender address; `nil` leaves it to the MTA.
    package var from: String?
    /// `apprise`: the credential holding apprise's configuration (its URLs carry tokens).
    package var configCredential: String?
    /// `webhook`: where to POST, when the address holds no secret…
    package var url: String?
    /// …or the credential that holds it (Slack's and Teams' webhook addresses are their secret).
    package var urlCredential: String?
    /// `webhook`: the credential holding the `Authorization` header's value (`Bearer …`).
    package var authorizationCredential: String?
    /// `webhook`: the body, with `{{subject}}`, `{{text}}`, `{{rule}}`, `{{host}}`, `{{kind}}`,
    /// `{{count}}` (each escaped for a JSON string) and `{{json}}` (the whole message); `nil` posts
    /// the message's JSON.
    package var template: String?
    /// `webhook`: CA certificates (PEM) to verify the server with instead of the system's.
    package var caCertificate: String?
    /// Seconds one delivery may take before it is stopped and counted as failed.
    package var timeoutSeconds = 30
    /// Deliveries to the sink at once, at most.
    package var concurrency = 2
    /// Attempts before an alert is given up as undeliverable.
    package var maxAttempts = 8
    /// Seconds before the first retry; each further one waits twice as long, up to an hour.
    package var retrySeconds = 30

    /// A sink with the defaults, defined at `origin`.
    package init(name: String, origin: SectionOrigin) {
        self.name = name
        self.origin = origin
    }

    /// What a `Template=` may name.
    package static let placeholders = ["subject", "text", "rule", "host", "kind", "count", "json"]

    /// The program run, as set or the type's default.
    package var program: [String] {
        if let command { return command }
        switch type {
        case .exec: return []
        case .mail: return ["/usr/sbin/sendmail"]
        case .apprise: return ["/usr/bin/apprise"]
        case .webhook: return ["/usr/bin/curl"]
        }
    }

    /// The setting the type needs and the section lacks.
    var missingSetting: String? {
        switch type {
        case .exec: command == nil ? "Command=" : nil
        case .mail: to.isEmpty ? "To=" : nil
        case .apprise: configCredential == nil ? "ConfigCredential=" : nil
        case .webhook: (url == nil) == (urlCredential == nil) ? "one of URL= or URLCredential=" : nil
        }
    }

    /// Every key in canonical form, `Sink NAME.Key`: what a reload compares.
    package var settings: [String: String] {
        var result: [String: String] = [:]
        for key in AlertKeys.sink { result["Sink \(name).\(key.name)"] = key.read(self) }
        return result
    }
}

/// The keys of `[Alert NAME]` and `[Sink NAME]` sections.
enum AlertKeys {
    /// A section name: letters, digits, `.`, `_` and `-`.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
            }
    }

    static let rule: [SettingKey<AlertRule>] = [
        .key("Alert", "Signals", \.signals, show: { $0.map(\.shortName).sorted().joined(separator: " ") }) {
            value, _ throws(ValueError) in
            try names(value, "signal", expected: "login, logout or failed") { AuthSignal(name: $0) }
        },
        .key("Alert", "Verdicts", \.verdicts, show: { $0.map(\.rawValue).sorted().joined(separator: " ") }) {
            value, _ throws(ValueError) in
            try names(value, "verdict") { VerdictCode(rawValue: $0) }
        },
        .key("Alert", "Health", \.health, show: { $0.map(\.rawValue).sorted().joined(separator: " ") }) {
            value, _ throws(ValueError) in
            try names(value, "condition") { HealthCondition(rawValue: $0) }
        },
        .list("Alert", "Users", \.users),
        .list("Alert", "Groups", \.groups),
        .list("Alert", "Services", \.services),
        ranges("Sources", \.sources),
        .list("Alert", "IgnoreUsers", \.ignoreUsers),
        ranges("IgnoreSources", \.ignoreSources),
        .key("Alert", "Senders", \.senders, show: \.rawValue) { value, _ throws(ValueError) in
            guard let senders = AlertRule.Senders(rawValue: value) else { throw ValueError("expected trusted or any") }
            return senders
        },
        .key("Alert", "Sinks", \.sinks, show: { $0.joined(separator: " ") }) { value, _ throws(ValueError) in
            let names = words(value)
            if let bad = names.first(where: { !isValidName($0) }) { throw ValueError("\(bad) is not a sink name") }
            return names
        },
        .integer("Alert", "GroupWaitSec", \.groupWaitSeconds, 0...86400),
        .integer("Alert", "RepeatIntervalSec", \.repeatIntervalSeconds, 0...(86400 * 7)),
        .key("Alert", "Digest", \.digest, show: \.rawValue) { value, _ throws(ValueError) in
            guard let digest = AlertRule.Digest(rawValue: value) else { throw ValueError("expected auto or always") }
            return digest
        },
    ]

    static let sink: [SettingKey<AlertSink>] = [
        .key("Sink", "Type", \.type, show: \.rawValue) { value, _ throws(ValueError) in
            guard let kind = AlertSink.Kind(rawValue: value) else {
                throw ValueError("expected \(AlertSink.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        },
        .key("Sink", "Command", \.command, show: { $0?.joined(separator: " ") ?? "" }) { value, _ throws(ValueError) in
            let command = words(value)
            guard let program = command.first, program.hasPrefix("/") else {
                throw ValueError("expected an absolute program path and its arguments (no shell)")
            }
            return command
        },
        .list("Sink", "To", \.to),
        .key("Sink", "From", \.from, show: { $0 ?? "" }) { value, _ in value.isEmpty ? nil : value },
        credential("ConfigCredential", \.configCredential),
        .key("Sink", "URL", \.url, show: { $0 ?? "" }) { value, _ throws(ValueError) in
            guard let url = URLComponents(string: value), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false
            else { throw ValueError("expected an http:// or https:// address") }
            return value
        },
        credential("URLCredential", \.urlCredential),
        credential("AuthorizationCredential", \.authorizationCredential),
        .key("Sink", "Template", \.template, show: { $0 ?? "" }) { value, _ throws(ValueError) in
            guard !value.isEmpty else { return nil }
            for match in value.matches(of: /\{\{([^}]*)\}\}/) where !AlertSink.placeholders.contains(String(match.1)) {
                throw ValueError(
                    "unknown placeholder {{\(match.1)}}; expected \(AlertSink.placeholders.map { "{{\($0)}}" }.joined(separator: ", "))"
                )
            }
            return value
        },
        .key("Sink", "CACertificate", \.caCertificate, show: { $0 ?? "" }) { value, directory in
            value.isEmpty ? nil : (value.hasPrefix("/") ? value : directory + "/" + value)
        },
        .integer("Sink", "TimeoutSec", \.timeoutSeconds, 1...3600),
        .integer("Sink", "Concurrency", \.concurrency, 1...64),
        .integer("Sink", "MaxAttempts", \.maxAttempts, 1...1000),
        .integer("Sink", "RetrySec", \.retrySeconds, 1...86400),
    ]

    /// The set of `kind`s named by the words of `value`, each read by `parse`; a word that names
    /// none is an error listing what may be named (`expected`, or every case of `Name`).
    private static func names<Name: CaseIterable & RawRepresentable<String>>(
        _ value: String, _ kind: String, expected: String? = nil, parse: (String) -> Name?
    ) throws(ValueError) -> Set<Name> {
        var names: Set<Name> = []
        for word in words(value) {
            guard let name = parse(word) else {
                let known = expected ?? "some of " + Name.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValueError("unknown \(kind) \(word); expected \(known)")
            }
            names.insert(name)
        }
        return names
    }

    private static func words(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// A key naming a credential (a file systemd's `LoadCredential=` gives the service).
    private static func credential(
        _ name: String, _ field: any WritableKeyPath<AlertSink, String?> & Sendable
    ) -> SettingKey<AlertSink> {
        .key("Sink", name, field, show: { $0 ?? "" }) { value, _ throws(ValueError) in
            guard isValidName(value) else { throw ValueError("expected a credential name (letters, digits, . _ -)") }
            return value
        }
    }

    private static func ranges(
        _ name: String, _ field: any WritableKeyPath<AlertRule, [AddressRange]> & Sendable
    ) -> SettingKey<AlertRule> {
        .key("Alert", name, field, show: { $0.map(\.description).joined(separator: " ") }) {
            value, _ throws(ValueError) in
            var ranges: [AddressRange] = []
            for word in words(value) {
                guard let range = AddressRange(word) else {
                    throw ValueError("\(word) is not an address or network such as 203.0.113.0/24")
                }
                ranges.append(range)
            }
            return ranges
        }
    }
}
