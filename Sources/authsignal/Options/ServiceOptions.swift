import ArgumentParser
import Logging

/// The options of a command that runs one of authsignal's services (`alerts run`, `export run`):
/// the configuration it reads and how much it logs.
struct ServiceOptions: ParsableArguments {
    @Option(help: "The configuration file (its drop-ins are read from PATH.d/).") var config: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }
}
