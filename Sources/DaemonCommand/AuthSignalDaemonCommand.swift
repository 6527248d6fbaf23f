package import ArgumentParser
import AuthSignalCore
import AuthSignalDaemon
import AuthSignalProtocol
import AuthSignalRelease
import Foundation
package import Logging
import ServiceLifecycle
import Systemd
import UnixSignals

/// `authsignald`: the authsignal audit daemon. Its programs (the `authsignald` target, and the
/// multi-call `authsignal` when started under the name `authsignald`) only call `main()`.
package struct AuthSignalDaemonCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "authsignald",
        abstract: "Receive authentication events, redact them, and store them in a tamper-evident audit log.",
        discussion: """
            Configuration: \(DaemonConfig.defaultPath) and \(DaemonConfig.defaultPath).d/*.conf (every key is \
            documented in etc/authsignald.conf). SIGHUP reloads it; SIGTERM stops after answering every request \
            already received.
            """,
        version: AuthSignalRelease.version)

    package init() {}

    @Option(name: .long, help: "The configuration file (its drop-ins are read from PATH.d/).")
    var config: String?

    @Flag(name: .long, help: "Check the configuration, print the effective settings, and exit.")
    var checkConfig = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    package func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    package func run() async throws {
        let path = config ?? DaemonConfig.defaultPath
        if checkConfig {
            do {
                let loaded = try DaemonConfig.load(path: path, required: config != nil)
                let settings = loaded.settings
                for key in loaded.settingNames { print("\(key)=\(settings[key] ?? "")") }
            } catch {
                FileHandle.standardError.write(Data("authsignald: \(error)\n".utf8))
                throw ExitCode(78)  // EX_CONFIG
            }
            return
        }
        let logger = Self.startService(identifier: "authsignald", logLevel: logLevel)
        let health = WatchdogHealth()
        do {
            let daemon = try Daemon(
                source: Daemon.ConfigSource(path: path, required: config != nil), release: AuthSignalRelease.version,
                logger: logger, health: health)
            // The watchdog comes last: it is the first to stop, and the daemon's services stop
            // in reverse order after it.
            let services = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: daemon.services + [.init(service: WatchdogService(health: health, logger: logger))],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await services.run()
        } catch let error as DaemonError {
            logger.critical("authsignald cannot start: \(error)")
            Notifier().send("STATUS=cannot start\nERRNO=22")
            throw ExitCode(error.isConfig ? 78 : 1)
        } catch {
            logger.critical("authsignald failed: \(error)")
            Notifier().send("STATUS=failed\nERRNO=5")
            throw ExitCode(1)
        }
    }

    /// Readies this process to run as a service named `identifier` (authsignald, or the alert
    /// service): unblocks the signals it handles, which a parent may have started it with
    /// blocked, and sends its log to the journal at `logLevel` (see ``handler(label:level:identifier:)``).
    /// Returns its logger.
    package static func startService(identifier: String, logLevel: String) -> Logger {
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&handled, signal) }
        sigprocmask(SIG_UNBLOCK, &handled, nil)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            handler(label: label, level: level, identifier: identifier)
        }
        return Logger(label: identifier)
    }

    /// Under systemd (stderr connected to the journal) log structured entries to the journal only;
    /// in a terminal, log to stderr and also to the journal when one runs.
    static func handler(label: String, level: Logger.Level, identifier: String) -> any LogHandler {
        var journal = JournalLogHandler(identifier: identifier)
        journal.logLevel = level
        if ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil { return journal }
        var stderr = StreamLogHandler.standardError(label: label)
        stderr.logLevel = level
        return MultiplexLogHandler([stderr, journal])
    }
}

extension DaemonError {
    var isConfig: Bool { if case .config = self { true } else { false } }
}
