import ArgumentParser
import AuthSignalAlerts
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Alerts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List recent alerts and their delivery state; test a rule's sinks; run the alert service.",
            discussion: """
                Alert rules ([Alert NAME]) and sinks ([Sink NAME]) are set in authsignald.conf; the alert \
                service (authsignal-alerts.service, `authsignal alerts run`) reads each committed record once, \
                keeps its alerts in an outbox ([Alerts] Database) and delivers them. See docs/alerts.md.
                """,
            subcommands: [List.self, Test.self, Replay.self, Run.self],
            defaultSubcommand: List.self)
    }
}

extension AuthSignalCommand.Alerts {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List recent alerts, newest first, with their delivery state.",
            discussion: """
                Reads the alert service's outbox directly (root, or the service's user). States: pending \
                (waiting for its rule's GroupWaitSec or RepeatIntervalSec, or for a retry), sent, dead \
                (given up after the sink's MaxAttempts; a Health=undeliverable-alerts rule is told), \
                dropped (its rule or sink was removed from the configuration).
                """)

        @Option(help: "The configuration naming the outbox ([Alerts] Database).") var config: String?
        @Option(help: "Only this rule's alerts.") var rule: String?
        @Option(help: "Only alerts in this state: pending, sent, dead or dropped.") var state: String?
        @Option(help: "At most this many.") var limit = 50
        @Option(help: "table, json or jsonl.") var format = OutputFormat.table

        func validate() throws {
            if let state, !["pending", "sent", "dead", "dropped"].contains(state) {
                throw ValidationError("--state must be pending, sent, dead or dropped")
            }
            guard format != .csv else { throw ValidationError("--format must be table, json or jsonl") }
        }

        func run() async throws {
            let settings = try loadConfig(config)
            let alerts: [Outbox.Listed]
            do {
                alerts = try Outbox(path: settings.alerts.databasePath, readOnly: true)
                    .recent(limit: max(limit, 1), rule: rule, state: state)
            } catch {
                throw failReading(error)
            }
            let output = BufferedOutput()
            defer { output.flush() }
            switch format {
            case .table: output.write(AlertListing.table(alerts))
            case .json: output.write("[" + alerts.map(AlertListing.json).joined(separator: ",\n") + "]\n")
            default: for alert in alerts { output.write(AlertListing.json(alert) + "\n") }
            }
            if alerts.isEmpty { throw ExitStatus.nothing.exit }
        }
    }
}

/// Loads the configuration at `path` (the default file when `nil`), or exits with its problems.
func loadConfig(_ path: String?) throws -> DaemonConfig {
    do {
        return try DaemonConfig.load(path: path ?? DaemonConfig.defaultPath, required: path != nil)
    } catch {
        FileHandle.standardError.write(Data("authsignal: the configuration cannot be used:\n\(error)\n".utf8))
        throw ExitCode(78)
    }
}
