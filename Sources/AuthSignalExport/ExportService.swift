import AuditStore
package import AuthSignalCore
package import AuthSignalStandards
package import Logging
import ServiceLifecycle

/// The export service (authsignal-export, `authsignal export run`; docs/export.md): appends each
/// record the daemon commits, once its verdicts are final, to the export file as one line of a
/// standard schema. It reads the audit log read-only, so the daemon never waits for it.
package final class ExportService: Service {
    /// What the service is told.
    package struct Settings: Sendable {
        /// The audit log.
        package var storePath: String
        /// The export file, its format and rotation.
        package var export: ExportSettings
        /// The host the records are from.
        package var host: ExportHost
        /// authsignal's version, which the standards' events name as their product's.
        package var release: String

        /// The settings `config` gives, for records of this machine, exported by authsignal
        /// `release`.
        package init(_ config: DaemonConfig, release: String, host: ExportHost = .local()) {
            storePath = config.storePath
            export = config.export
            self.release = release
            self.host = host
        }
    }

    /// Records encoded and written at most per batch (one flush to disk each).
    static let batch = 1000

    private let settings: Settings
    private let logger: Logger
    /// How long the service rests when it has written everything committed, or after a failure.
    private let tick: Duration
    private let retry: Duration

    /// A service acting on `settings`.
    package init(
        settings: Settings, logger: Logger, tick: Duration = .milliseconds(250), retry: Duration = .seconds(5)
    ) {
        self.settings = settings
        self.logger = logger
        self.tick = tick
        self.retry = retry
    }

    package func run() async throws {
        // Cancelled at shutdown: a sleep never holds a stop up; a batch being written is finished.
        try await cancelWhenGracefulShutdown { try await self.export() }
    }

    private func export() async throws {
        guard let (log, file, resumed) = await start() else { return }
        var last = resumed
        var reportedFailure = false
        while !Task.isCancelled {
            do {
                let written = try await exportBatch(from: log, to: file, after: last)
                if reportedFailure { logger.notice("export: writing \(file.path) again") }
                reportedFailure = false
                if written == last { try await Task.sleep(for: tick) }
                last = written
            } catch is CancellationError {
                break
            } catch {
                // A full disk, say: nothing is skipped; the same records are tried again.
                if !reportedFailure { logger.error("export: \(error); retrying every \(retry)") }
                reportedFailure = true
                try? await Task.sleep(for: retry)
            }
        }
    }

    /// Opens the audit log (waiting for the daemon to create it) and the export file, and finds
    /// where the export stopped; `nil` when the service is stopped first.
    private func start() async -> (ReadOnlyAuditLog, ExportFile, Int64)? {
        var reported = false
        while !Task.isCancelled {
            do {
                let log = try ReadOnlyAuditLog(path: settings.storePath)
                let export = settings.export
                let file = try ExportFile(path: export.path, maxBytes: export.maxFileMiB << 20, keep: export.keepFiles)
                var last = try file.lastExportedSeq()
                let head = try await log.chainHead().seq
                if last > head {
                    // The file is ahead of the log: the log is a new one. Its history starts a new file.
                    logger.warning(
                        """
                        export: \(export.path) ends at record \(last), after the audit log's last (\(head)): \
                        a new audit log; its records start a new file
                        """)
                    try file.rotate()
                    last = 0
                }
                logger.notice("export: appending to \(export.path) (\(export.format.rawValue)) after record \(last)")
                return (log, file, last)
            } catch {
                if !reported { logger.error("export: cannot start: \(error); retrying every \(retry)") }
                reported = true
                try? await Task.sleep(for: retry)
            }
        }
        return nil
    }

    /// Writes the records committed after `last` (one batch at most) and returns the seq written
    /// up to (`last` when there was nothing new).
    private func exportBatch(from log: ReadOnlyAuditLog, to file: ExportFile, after last: Int64) async throws -> Int64 {
        let head = try await log.settledHead()
        guard head > last else { return last }
        let records = try await log.records(after: last, through: head, limit: Self.batch)
        guard let first = records.first, let final = records.last else { return last }
        if first.seq > last + 1 && last > 0 {
            logger.warning(
                "export: records \(last + 1) to \(first.seq - 1) were removed by retention before they were exported")
        }
        let lines = records.map { record in
            var line = settings.export.format.encode(record.wire, host: settings.host, release: settings.release)
            line.append(UInt8(ascii: "\n"))
            return line
        }
        try file.append(lines)
        return final.seq
    }
}
