import ArgumentParser
import AuditStore
import AuthSignalAlerts
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand.Alerts {
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a rule would have sent over stored history, to tune it before enabling it.",
            discussion: """
                Reads the audit log read-only (root, or the daemon's user) and applies the rule as the alert \
                service would: its conditions, then GroupWaitSec, RepeatIntervalSec and Digest by the records' \
                own times. Prints when each message would have gone out, how many alerts it carries and the \
                first of them (or the messages' JSON, as an exec sink would get them), and a count. Sends and stores nothing. The rule may be one not enabled yet: any \
                [Alert NAME] of --config.
                """)

        @Argument(help: "The rule ([Alert NAME]).") var rule: String
        @Option(parsing: .unconditional, help: "From this time (as for query; default: the last 7 days).")
        var since = "-7d"
        @Option(parsing: .unconditional, help: "Before this time.") var until: String?
        @Option(help: "The configuration file.") var config: String?
        @Option(help: "The audit log (default: [Store] Path of the configuration).") var database: String?
        @Option(help: "table or jsonl.") var format = OutputFormat.table

        func validate() throws {
            guard format == .table || format == .jsonl else { throw ValidationError("--format must be table or jsonl") }
        }

        func run() async throws {
            let settings = try loadConfig(config)
            guard let rule = settings.alerts.rules.first(where: { $0.name == self.rule }), rule.health.isEmpty else {
                let known = settings.alerts.rules.filter(\.health.isEmpty).map(\.name).joined(separator: ", ")
                throw ValidationError("no rule \(self.rule) on records in the configuration (rules: \(known))")
            }
            let now = Date()
            let since = try Filters.time(since, option: "since", now: now)
            let until = try Filters.time(until, option: "until", now: now)
            let sent: [AlertReplay.Sent]
            do {
                let trusted = TrustedSenders(settings)
                let log = try ReadOnlyAuditLog(path: database ?? settings.storePath, trusted: trusted)
                sent = try await AlertReplay.messages(
                    rule: rule, log: log, trusted: trusted, host: ProcessInfo.processInfo.hostName, since: since,
                    until: until)
            } catch {
                throw failReading(error)
            }
            let output = BufferedOutput()
            defer { output.flush() }
            if format == .jsonl {
                for message in sent { output.write(String(decoding: message.message.json(), as: UTF8.self)) }
            } else {
                output.write(AlertListing.replayTable(sent))
                let alerts = sent.reduce(0) { $0 + $1.message.count }
                output.write(
                    "rule \(rule.name): \(alerts) \(alerts == 1 ? "alert" : "alerts") in \(sent.count) "
                        + (sent.count == 1 ? "message\n" : "messages\n"))
            }
            if sent.isEmpty { throw ExitStatus.nothing.exit }
        }
    }
}
