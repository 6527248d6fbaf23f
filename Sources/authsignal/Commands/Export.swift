import ArgumentParser
import AuditStore
import AuthSignalCore
import AuthSignalExport
import AuthSignalRelease
import AuthSignalStandards
import DaemonCommand
import Foundation
import Logging
import ServiceLifecycle
import Systemd
import UnixSignals

extension AuthSignalCommand {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show how far the export file has got; run the export service.",
            discussion: """
                The export service (authsignal-export.service, `authsignal export run`) appends every record \
                the daemon commits to the export file ([Export] Path) as one line of OCSF or ECS, for a log \
                shipper to tail. See docs/export.md.
                """,
            subcommands: [Status.self, Run.self],
            defaultSubcommand: Status.self)
    }
}

extension AuthSignalCommand.Export {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the export file, its format, and how many committed records it is behind.",
            discussion: "Reads the export file and the audit log directly (root, or the daemon's user).")

        @Option(help: "The configuration naming the export file and the audit log.") var config: String?

        func run() async throws {
            let loaded = try loadConfig(config)
            let export = loaded.export
            do {
                let exported = try ExportFile.lastExportedSeq(at: export.path)
                let log = try ReadOnlyAuditLog(path: loaded.storePath)
                let head = try await log.settledHead()
                let behind = max(0, head - exported)
                print(
                    "\(export.path) (\(export.format.rawValue)): records up to \(exported) exported; "
                        + "the audit log is at \(head)" + (behind > 0 ? ", \(behind) to export" : ", none to export"))
            } catch {
                FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
                throw ExitStatus.unavailable.exit
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the export service (what authsignal-export.service starts).",
            discussion: """
                Reads the audit log read-only and appends each committed record, once its verdicts are \
                final, to the export file; resumes after its last complete line, so a restart (or a kill) \
                neither skips nor repeats a record. SIGTERM stops after the batch being written.
                """)

        @OptionGroup var options: ServiceOptions

        func run() async throws {
            let logger = AuthSignalDaemonCommand.startService(
                identifier: "authsignal-export", logLevel: options.logLevel)
            let loaded = try loadConfig(options.config)
            let service = ExportService(
                settings: ExportService.Settings(loaded, release: AuthSignalRelease.version), logger: logger)
            _ = Notifier().ready(status: "exporting to \(loaded.export.path) (\(loaded.export.format.rawValue))")
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}
