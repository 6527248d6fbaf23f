import AuthSignalProtocol
import AuthSignalStandards
import Foundation

/// authsignald's configuration (`etc/authsignald.conf` documents every key).
///
/// Read from a main file in systemd's INI style and its drop-ins (`<file>.d/*.conf`, in name
/// order, later values winning). Relative paths are relative to the file that sets them.
package struct DaemonConfig: Sendable, Hashable {
    // [Socket]
    /// The socket path, when not socket-activated.
    package var socketPath = WireProtocol.defaultSocketPath
    /// The socket's permission bits.
    package var socketMode: UInt32 = 0o660
    /// The socket's group; empty keeps the daemon's group.
    package var socketGroup = "authsignal"
    /// The longest request line, in bytes.
    package var maxFrameBytes = WireProtocol.defaultMaxFrameBytes
    /// The most connections at once; more are answered `unavailable` and closed.
    package var maxConnections = 1024
    /// The most connections one user other than root may hold at once, so that no local user can
    /// take every connection and keep PAM's events out.
    package var maxConnectionsPerUser = 64
    /// The most requests of one connection being processed or answered at once; the daemon
    /// reads no further from that connection until some are answered.
    package var maxInFlight = 256
    /// Seconds a connection may stay idle (no request and nothing pending) before it is closed;
    /// 0 never closes.
    package var idleTimeoutSeconds = 300

    // [Access]
    /// Users (names or uids) who may emit.
    package var emitUsers: [String] = []
    /// Groups (names or gids) whose members may emit.
    package var emitGroups = ["authsignal"]
    /// Users who may read (query, follow, stats, verify).
    package var readUsers: [String] = []
    /// Groups whose members may read.
    package var readGroups = ["adm"]
    /// Users who may ask for keyed hashes (`hash`, and `--user` matching hashed names).
    package var hashUsers: [String] = []
    /// Groups whose members may ask for keyed hashes.
    package var hashGroups: [String] = []
    /// Users (besides root, always trusted) whose events count as trusted: what bans and alerts
    /// act on (docs/protocol.md, "Trusted senders").
    package var trustedUsers: [String] = []

    // [Store]
    /// The audit log.
    package var storePath = "/var/lib/authsignald/audit.db"
    /// Records older than this many days are pruned; 0 keeps them.
    package var maxAgeDays = 0
    /// Only this many newest records are kept; 0 keeps all.
    package var maxRecords = 0
    /// The writer's SQLite page cache, in MiB (docs/benchmarks.md: 2 ingests as fast as 8 on a
    /// 1M-record log, in 5–7 MiB less memory).
    package var cacheMiB = 2
    /// Whether the daemon records its own start, stop, reload and retention runs in the log.
    package var lifecycleRecords = true

    // [Redaction]
    /// How sensitive values are replaced.
    package var redactionMode = Redactor.Mode.hmac
    /// The key of keyed hashes.
    package var keyFile = "/var/lib/authsignald/redaction.key"
    /// The sensitive key patterns; `nil` for the defaults.
    package var patterns: [String]?
    /// Whether a failed login's unknown username is stored keyed-hashed.
    package var hashUnknownUsers = true

    // [Journal]
    /// Whether each record is also written to the journal.
    package var journalEnabled = true
    /// Entries waiting for the journal at most; beyond, the journal receiver catches up from the
    /// audit log instead (so this bounds memory, never what the journal gets).
    package var journalQueueCapacity = 4096
    /// The chain head goes to the journal after this many records…
    package var anchorEveryRecords = 1000
    /// …or after this many seconds with new records, whichever comes first.
    package var anchorIntervalSeconds = 60
    /// The chain head goes to the journal again after this many seconds without an anchor, new
    /// records or not (0: never): a collector tells a quiet host from a silent one by it.
    package var anchorHeartbeatSeconds = 300
    /// Seconds between reports of journal drops and failures (when there are any) and status.
    package var reportIntervalSeconds = 60

    // [Verdicts]
    /// How logins are judged (docs/verdicts.md).
    package var verdicts = VerdictSettings()

    // [Alerts], [Alert NAME], [Sink NAME]
    /// Who is told what (docs/alerts.md).
    package var alerts = AlertSettings()

    // [Accounts]
    /// Whether the daemon watches the account files and records their changes.
    package var watchAccounts = true
    /// The account files it watches.
    package var passwdFile = "/etc/passwd"
    package var shadowFile = "/etc/shadow"
    package var groupFile = "/etc/group"
    package var gshadowFile = "/etc/gshadow"

    // [Export]
    /// The export file for log shippers (docs/export.md).
    package var export = ExportSettings()

    // [Spool]
    /// Where the PAM hook leaves events it could not deliver; the daemon drains it.
    package var spoolDirectory = Spool.defaultDirectory

    /// The defaults.
    package init() {}

    /// The default configuration file.
    package static let defaultPath = "/etc/authsignald.conf"

    /// Every key as `Section.Key` with its value in canonical form: what a reload compares.
    package var settings: [String: String] {
        var result: [String: String] = [:]
        for key in ConfigKey.all { result[key.setting] = key.read(self) }
        for rule in alerts.rules { result.merge(rule.settings) { $1 } }
        for sink in alerts.sinks { result.merge(sink.settings) { $1 } }
        return result
    }

    /// The names in ``settings``, in documentation order: the daemon's keys, then each rule's and
    /// each sink's (`Alert NAME.Key`, `Sink NAME.Key`) in the order the files define them.
    package var settingNames: [String] {
        Self.keyNames + alerts.rules.flatMap { rule in AlertKeys.rule.map { "Alert \(rule.name).\($0.name)" } }
            + alerts.sinks.flatMap { sink in AlertKeys.sink.map { "Sink \(sink.name).\($0.name)" } }
    }

    /// The keys whose change needs a restart: a reload reports them and keeps the old value.
    /// The verdicts' settings are among them: the writer's judge learned the log's history with
    /// the old ones.
    package static let restartOnlySettings = Set(
        [
            "Socket.Path", "Socket.Mode", "Socket.Group", "Store.Path", "Store.MaxAgeDays", "Store.MaxRecords",
            "Store.CacheMiB", "Store.LifecycleRecords", "Redaction.KeyFile", "Spool.Directory",
        ] + ConfigKey.all.filter { $0.section == "Verdicts" || $0.section == "Accounts" }.map(\.setting))

    /// `self` (a reloaded configuration) with every key in ``restartOnlySettings`` set back to its
    /// value in `running`, and the keys whose new value was set aside that way.
    package func keepingRestartOnlySettings(of running: DaemonConfig) -> (config: DaemonConfig, deferred: [String]) {
        var result = self
        var deferred: [String] = []
        for key in ConfigKey.all where Self.restartOnlySettings.contains(key.setting) {
            let value = key.read(running)
            guard key.read(self) != value else { continue }
            deferred.append(key.setting)
            do {
                // A running value is a parsed one, and paths are already absolute.
                try key.write(&result, value, "/")
            } catch {
                preconditionFailure("\(key.setting): the running value \(value) does not parse: \(error.reason)")
            }
        }
        return (result, deferred)
    }

    /// Loads `path` and its drop-ins.
    /// - Parameter required: whether a missing main file is an error (it is not for the default
    ///   path: the defaults apply).
    /// - Throws: ``ConfigError`` listing every problem with its file and line.
    package static func load(path: String, required: Bool) throws(ConfigError) -> DaemonConfig {
        var config = DaemonConfig()
        var problems: [ConfigProblem] = []
        var files: [String] = []
        if FileManager.default.fileExists(atPath: path) {
            files.append(path)
        } else if required {
            throw ConfigError(problems: [ConfigProblem(file: path, line: 0, message: "no such file")])
        }
        let dropInDirectory = path + ".d"
        if let names = try? FileManager.default.contentsOfDirectory(atPath: dropInDirectory) {
            files += names.filter { $0.hasSuffix(".conf") }.sorted().map { dropInDirectory + "/" + $0 }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                problems.append(ConfigProblem(file: file, line: 0, message: "cannot read"))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                problems.append(ConfigProblem(file: file, line: 0, message: "not UTF-8 text"))
                continue
            }
            config.apply(text, file: file, problems: &problems)
        }
        problems += config.alerts.problems()
        guard problems.isEmpty else { throw ConfigError(problems: problems) }
        return config
    }

    /// Applies the assignments in `text` (the contents of `file`), collecting problems.
    package mutating func apply(_ text: String, file: String, problems: inout [ConfigProblem]) {
        let directory = (file as NSString).deletingLastPathComponent
        var target: ConfigTarget?
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = number + 1
            func problem(_ message: String) {
                problems.append(ConfigProblem(file: file, line: lineNumber, message: message))
            }
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if let comment = line.range(of: " #") ?? line.range(of: "\t#") {
                line = line[..<comment.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    problem("malformed section header")
                    continue
                }
                target = section(String(line.dropFirst().dropLast()), at: SectionOrigin(file: file, line: lineNumber))
                if target == nil {
                    problem(
                        "unknown section \(line); expected one of \(ConfigKey.sections.joined(separator: ", ")), "
                            + "Alert NAME or Sink NAME (NAME of letters, digits, . _ -)")
                }
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                problem("expected Key=Value")
                continue
            }
            guard let target else {
                problem("assignment outside a known section")
                continue
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            do throws(ValueError) {
                switch target {
                case .daemon(let section):
                    try Self.assign(name, value, in: section, keys: ConfigKey.all, to: &self, directory: directory)
                case .rule(let index):
                    try Self.assign(
                        name, value, in: "Alert \(alerts.rules[index].name)", keys: AlertKeys.rule,
                        to: &alerts.rules[index], directory: directory)
                case .sink(let index):
                    try Self.assign(
                        name, value, in: "Sink \(alerts.sinks[index].name)", keys: AlertKeys.sink,
                        to: &alerts.sinks[index], directory: directory)
                }
            } catch {
                problem(error.reason)
            }
        }
    }

    /// Where the assignments after the header `[header]` go; a named section defined before
    /// (in this file or an earlier one) is amended. `nil` for a header that names nothing known.
    private mutating func section(_ header: String, at origin: SectionOrigin) -> ConfigTarget? {
        if ConfigKey.sections.contains(header) { return .daemon(header) }
        let words = header.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard words.count == 2, AlertKeys.isValidName(words[1]) else { return nil }
        let name = words[1]
        switch words[0] {
        case "Alert":
            if let index = alerts.rules.firstIndex(where: { $0.name == name }) { return .rule(index) }
            alerts.rules.append(AlertRule(name: name, origin: origin))
            return .rule(alerts.rules.count - 1)
        case "Sink":
            if let index = alerts.sinks.firstIndex(where: { $0.name == name }) { return .sink(index) }
            alerts.sinks.append(AlertSink(name: name, origin: origin))
            return .sink(alerts.sinks.count - 1)
        default:
            return nil
        }
    }

    /// Sets `name` (of `section`, whose keys are `keys`) in `settings` to `value`.
    /// - Throws: why not, naming the key.
    private static func assign<Root>(
        _ name: String, _ value: String, in section: String, keys: [SettingKey<Root>], to settings: inout Root,
        directory: String
    ) throws(ValueError) {
        let keySection = section.split(separator: " ").first.map(String.init) ?? section
        guard let key = keys.first(where: { $0.section == keySection && $0.name == name }) else {
            let known = keys.filter { $0.section == keySection }.map(\.name).joined(separator: ", ")
            throw ValueError("unknown key \(name) in [\(section)]; expected one of \(known)")
        }
        do {
            try key.write(&settings, value, directory)
        } catch {
            throw ValueError("\(section).\(name): \(error.reason)")
        }
    }
}

/// Where a file's assignments go: a section of the daemon's, or a named alert rule or sink (by
/// its index in ``AlertSettings``).
private enum ConfigTarget {
    case daemon(String)
    case rule(Int)
    case sink(Int)
}

/// One problem in a configuration file.
package struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file.
    package let file: String
    /// The line, from 1; 0 for the file as a whole.
    package let line: Int
    /// What is wrong.
    package let message: String

    /// `file:line: message`.
    package var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// Configuration that cannot be used, with every problem found.
package struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems, in file order.
    package let problems: [ConfigProblem]

    /// One problem per line.
    package var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Why a value is not acceptable.
struct ValueError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// A configuration key of the settings `Root` (the daemon's, or one `[Alert NAME]` or
/// `[Sink NAME]` section's): where it lives, how it is parsed and shown.
struct SettingKey<Root>: Sendable {
    let section: String
    let name: String
    let write: @Sendable (inout Root, String, _ directory: String) throws(ValueError) -> Void
    let read: @Sendable (Root) -> String

    var setting: String { "\(section).\(name)" }
}

/// The daemon's keys, in the order etc/authsignald.conf documents them.
enum ConfigKey {
    static let sections = [
        "Socket", "Access", "Store", "Redaction", "Journal", "Verdicts", "Accounts", "Alerts", "Export", "Spool",
    ]

    static let all: [SettingKey<DaemonConfig>] = [
        .path("Socket", "Path", \.socketPath),
        .key("Socket", "Mode", \.socketMode, show: { "0" + String($0, radix: 8) }) { value, _ throws(ValueError) in
            guard let mode = UInt32(value, radix: 8), mode <= 0o777 else {
                throw ValueError("expected octal permission bits such as 0660")
            }
            return mode
        },
        .text("Socket", "Group", \.socketGroup),
        .integer("Socket", "MaxFrameBytes", \.maxFrameBytes, 256...(64 << 20)),
        .integer("Socket", "MaxConnections", \.maxConnections, 1...1_000_000),
        .integer("Socket", "MaxConnectionsPerUser", \.maxConnectionsPerUser, 1...1_000_000),
        .integer("Socket", "MaxInFlight", \.maxInFlight, 1...1_000_000),
        .integer("Socket", "IdleTimeoutSec", \.idleTimeoutSeconds, 0...(86400 * 365)),
        .list("Access", "EmitUsers", \.emitUsers),
        .list("Access", "EmitGroups", \.emitGroups),
        .list("Access", "ReadUsers", \.readUsers),
        .list("Access", "ReadGroups", \.readGroups),
        .list("Access", "HashUsers", \.hashUsers),
        .list("Access", "HashGroups", \.hashGroups),
        .list("Access", "TrustedUsers", \.trustedUsers),
        .path("Store", "Path", \.storePath),
        .integer("Store", "MaxAgeDays", \.maxAgeDays, 0...1_000_000),
        .integer("Store", "MaxRecords", \.maxRecords, 0...Int.max),
        .integer("Store", "CacheMiB", \.cacheMiB, 1...65536),
        .boolean("Store", "LifecycleRecords", \.lifecycleRecords),
        .key("Redaction", "Mode", \.redactionMode, show: \.rawValue) { value, _ throws(ValueError) in
            guard let mode = Redactor.Mode(rawValue: value) else { throw ValueError("expected hmac or mask") }
            return mode
        },
        .path("Redaction", "KeyFile", \.keyFile),
        .key("Redaction", "Patterns", \.patterns, show: { ($0 ?? Redactor.defaultPatterns).joined(separator: " ") }) {
            value, _ in
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "|" }).map(String.init)
            return words.isEmpty ? nil : words.map { $0.lowercased() }
        },
        .boolean("Redaction", "HashUnknownUsers", \.hashUnknownUsers),
        .boolean("Journal", "Enabled", \.journalEnabled),
        .integer("Journal", "QueueCapacity", \.journalQueueCapacity, 1...(1 << 24)),
        .integer("Journal", "AnchorEveryRecords", \.anchorEveryRecords, 1...Int.max),
        .integer("Journal", "AnchorIntervalSec", \.anchorIntervalSeconds, 1...86400),
        .integer("Journal", "AnchorHeartbeatSec", \.anchorHeartbeatSeconds, 0...86400),
        .integer("Journal", "ReportIntervalSec", \.reportIntervalSeconds, 1...86400),
        .key("Verdicts", "Enabled", \.verdicts.enabled, show: { $0.map(\.rawValue).sorted().joined(separator: " ") }) {
            value, _ throws(ValueError) in
            var codes: Set<VerdictCode> = []
            for word in value.split(whereSeparator: { $0 == " " || $0 == "\t" }) where word != "none" {
                guard let code = VerdictCode(rawValue: String(word)) else {
                    let known = VerdictCode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ValueError("unknown verdict \(word); expected none or some of \(known)")
                }
                codes.insert(code)
            }
            return codes
        },
        .integer("Verdicts", "SourcePrefixIPv4", \.verdicts.ipv4Prefix, 8...32),
        .integer("Verdicts", "SourcePrefixIPv6", \.verdicts.ipv6Prefix, 16...128),
        .integer("Verdicts", "LearnLogins", \.verdicts.learnLogins, 0...1_000_000),
        .integer("Verdicts", "LearnDays", \.verdicts.learnDays, 0...36500),
        .integer("Verdicts", "FailureThreshold", \.verdicts.failureThreshold, 1...1000),
        .integer("Verdicts", "FailureWindowSec", \.verdicts.failureWindowSeconds, 1...(86400 * 30)),
        .integer("Verdicts", "SystemUIDMax", \.verdicts.systemUIDMax, 0...Int(UInt32.max)),
        .key("Verdicts", "Hours", \.verdicts.hours, show: { $0?.description ?? "" }) { value, _ throws(ValueError) in
            guard !value.isEmpty else { return nil }
            do throws(LoginHoursError) {
                return try LoginHours(parsing: value)
            } catch {
                throw ValueError(error.message)
            }
        },
        .key("Verdicts", "TimeZone", \.verdicts.timeZone, show: { $0 ?? "" }) { value, _ throws(ValueError) in
            guard !value.isEmpty else { return nil }
            guard TimeZone(identifier: value) != nil else {
                throw ValueError("unknown time zone \(value); expected a name such as Europe/Berlin")
            }
            return value
        },
        .boolean("Accounts", "Watch", \.watchAccounts),
        .path("Accounts", "PasswdFile", \.passwdFile),
        .path("Accounts", "ShadowFile", \.shadowFile),
        .path("Accounts", "GroupFile", \.groupFile),
        .path("Accounts", "GShadowFile", \.gshadowFile),
        .path("Alerts", "Database", \.alerts.databasePath),
        .integer("Alerts", "DiskUsagePercent", \.alerts.diskUsagePercent, 1...100),
        .key("Alerts", "FleetDirectory", \.alerts.fleetDirectory, show: { $0 ?? "" }) { value, directory in
            value.isEmpty ? nil : value.hasPrefix("/") ? value : directory + "/" + value
        },
        .integer("Alerts", "FleetSilentAfterSec", \.alerts.fleetSilentAfterSeconds, 1...604_800),
        .path("Export", "Path", \.export.path),
        .key("Export", "Format", \.export.format, show: \.rawValue) { value, _ throws(ValueError) in
            guard let format = StandardFormat(rawValue: value) else { throw ValueError("expected ocsf or ecs") }
            return format
        },
        .integer("Export", "MaxFileMiB", \.export.maxFileMiB, 1...65536),
        .integer("Export", "KeepFiles", \.export.keepFiles, 1...1000),
        .path("Spool", "Directory", \.spoolDirectory),
    ]

}

extension SettingKey {
    /// The key `Section.Name`, stored in `field`: `parse` reads a value (given the directory of
    /// the file it is in) or says why it cannot, `show` writes the value as the file would.
    static func key<Value>(
        _ section: String, _ name: String, _ field: any WritableKeyPath<Root, Value> & Sendable,
        show: @escaping @Sendable (Value) -> String,
        parse: @escaping @Sendable (_ value: String, _ directory: String) throws(ValueError) -> Value
    ) -> SettingKey {
        SettingKey(
            section: section, name: name,
            write: { config, value, directory throws(ValueError) in config[keyPath: field] = try parse(value, directory)
            },
            read: { show($0[keyPath: field]) })
    }

    static func text(
        _ section: String, _ name: String, _ field: any WritableKeyPath<Root, String> & Sendable
    ) -> SettingKey {
        key(section, name, field, show: { $0 }) { value, _ in value }
    }

    /// A path; a relative one is relative to the file's directory.
    static func path(
        _ section: String, _ name: String, _ field: any WritableKeyPath<Root, String> & Sendable
    ) -> SettingKey {
        key(section, name, field, show: { $0 }) { value, directory throws(ValueError) in
            guard !value.isEmpty else { throw ValueError("expected a path") }
            return value.hasPrefix("/") ? value : directory + "/" + value
        }
    }

    static func integer(
        _ section: String, _ name: String, _ field: any WritableKeyPath<Root, Int> & Sendable,
        _ range: ClosedRange<Int>
    ) -> SettingKey {
        key(section, name, field, show: { String($0) }) { value, _ throws(ValueError) in
            guard let number = Int(value), range.contains(number) else {
                throw ValueError("expected an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
    }

    static func boolean(
        _ section: String, _ name: String, _ field: any WritableKeyPath<Root, Bool> & Sendable
    ) -> SettingKey {
        key(section, name, field, show: { $0 ? "yes" : "no" }) { value, _ throws(ValueError) in
            switch value.lowercased() {
            case "yes", "true", "on", "1": true
            case "no", "false", "off", "0": false
            default: throw ValueError("expected yes or no")
            }
        }
    }

    /// Words separated by spaces or tabs.
    static func list(
        _ section: String, _ name: String, _ field: any WritableKeyPath<Root, [String]> & Sendable
    ) -> SettingKey {
        key(section, name, field, show: { $0.joined(separator: " ") }) { value, _ in
            value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
    }
}

extension DaemonConfig {
    /// Every key as `Section.Key`, in documentation order.
    package static var keyNames: [String] { ConfigKey.all.map(\.setting) }
}
