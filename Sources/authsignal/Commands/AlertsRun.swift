import ArgumentParser
import AuthSignalAlerts
import AuthSignalCore
import DaemonCommand
import Foundation
import Logging
import ServiceLifecycle
import Systemd
import UnixSignals

extension AuthSignalCommand.Alerts {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the alert service (what authsignal-alerts.service starts).",
            discussion: """
                Reads the audit log read-only and each committed record once; stores the alerts its rules \
                fire in the outbox and delivers them through their sinks. SIGHUP reloads the rules and \
                sinks; SIGTERM stops, leaving deliveries under way to be repeated at the next start. Runs \
                as the daemon's user (it reads the audit log and writes the outbox beside it).
                """)

        @OptionGroup var options: ServiceOptions

        func run() async throws {
            let logger = AuthSignalDaemonCommand.startService(
                identifier: "authsignal-alerts", logLevel: options.logLevel)
            let loaded = try loadConfig(options.config)
            let service: AlertService
            do {
                service = try AlertService(settings: AlertService.Settings(loaded), logger: logger)
            } catch {
                logger.critical("authsignal-alerts cannot open its outbox \(loaded.alerts.databasePath): \(error)")
                throw ExitCode(1)
            }
            let reload = AlertReload(config: options.config, running: loaded, service: service, logger: logger)
            let rules = loaded.alerts.rules.count
            let sinks = loaded.alerts.sinks.count
            logger.notice("authsignal-alerts started: \(rules) rules, \(sinks) sinks")
            _ = Notifier().ready(status: "\(rules) rules, \(sinks) sinks")
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: service), .init(service: reload)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}

/// Reloads the rules and sinks on each SIGHUP; a configuration with problems is reported and
/// the running one kept.
struct AlertReload: Service {
    let config: String?
    let running: DaemonConfig
    let service: AlertService
    let logger: Logger

    func run() async {
        var current = running
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            _ = Notifier().reloading()
            do {
                let new = try DaemonConfig.load(path: config ?? DaemonConfig.defaultPath, required: config != nil)
                let old = current.settings
                let now = new.settings
                let changed = (new.settingNames + current.settingNames.filter { now[$0] == nil })
                    .filter {
                        old[$0] != now[$0] && ($0.hasPrefix("Alert") || $0.hasPrefix("Sink") || $0.hasPrefix("Access"))
                    }
                service.update(AlertService.Settings(new))
                current = new
                let summary = changed.isEmpty ? "nothing changed" : "changed " + changed.joined(separator: ", ")
                logger.notice("authsignal-alerts reloaded its configuration: \(summary)")
                _ = Notifier().ready(
                    status: "Reloaded; \(new.alerts.rules.count) rules, \(new.alerts.sinks.count) sinks")
            } catch {
                logger.error("reload refused, keeping the running rules and sinks:\n\(error)")
                _ = Notifier().ready(status: "Reload refused: configuration has errors; running with the previous one")
            }
        }
    }
}
