import ArgumentParser
import AuthSignalAlerts
import AuthSignalCore
import Foundation

extension AuthSignalCommand.Alerts {
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a test message through each sink of a rule and print what each sink answered.",
            discussion: """
                The message goes through the real sink, now (no GroupWaitSec), and is not kept in the \
                outbox. Credentials are read from $CREDENTIALS_DIRECTORY when set, else from /etc/credstore, \
                where the service's LoadCredential= takes them from. Exits 1 if any sink failed.
                """)

        @Argument(help: "The rule ([Alert NAME]).") var rule: String
        @Option(help: "Only this one of the rule's sinks.") var sink: String?
        @Option(help: "The configuration file.") var config: String?

        func run() async throws {
            let settings = try loadConfig(config).alerts
            guard let rule = settings.rules.first(where: { $0.name == rule }) else {
                let known = settings.rules.map(\.name).joined(separator: ", ")
                throw ValidationError(
                    "no rule \(self.rule) in the configuration (rules: \(known.isEmpty ? "none" : known))")
            }
            let names = sink.map { [$0] } ?? rule.sinks
            guard names.allSatisfy(rule.sinks.contains) else {
                throw ValidationError("rule \(rule.name) does not send to sink \(sink ?? "")")
            }
            let host = ProcessInfo.processInfo.hostName
            var failed = false
            for name in names {
                guard let sink = settings.sink(named: name) else { continue }
                let event = AlertEvent(
                    kind: .test, condition: nil,
                    detail:
                        "This is a test of rule \(rule.name) through sink \(name), sent by authsignal alerts test on \(host).",
                    at: Date())
                let message = AlertMessage(rule: rule.name, sink: name, host: host, events: [event], digest: false)
                do {
                    let answer = try await SinkDriver(sink: sink).deliver(message)
                    print("sink \(name) (\(sink.type.rawValue)): delivered" + (answer.isEmpty ? "" : ": \(answer)"))
                } catch {
                    failed = true
                    print("sink \(name) (\(sink.type.rawValue)): FAILED: \(error)")
                }
            }
            if failed { throw ExitStatus.nothing.exit }
        }
    }
}
