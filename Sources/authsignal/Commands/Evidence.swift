import ArgumentParser
import AuthSignalAlerts
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import AuthSignalRelease
import Foundation

extension AuthSignalCommand {
    struct Evidence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the evidence an auditor asks for: one self-contained HTML page (or JSON) on a period.",
            discussion: """
                Logins, failures and logouts per day, top failure sources, the hash chain verified with its \
                journal anchors, retention and the oldest record kept, the off-host copy, verdicts and \
                alerts, credential and account changes, and the daemon's own starts and stops; each section \
                names the PCI DSS and NIST controls it evidences. The page has no script and loads nothing: \
                it opens offline. See docs/evidence.md.
                """)

        @OptionGroup var connection: Connection
        @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
        var database: String?
        @OptionGroup var journalOptions: JournalOptions
        @Option(parsing: .unconditional, help: "From this time (default: 90 days ago).") var since = "-90d"
        @Option(parsing: .unconditional, help: "Before this time (default: now).") var until: String?
        @Option(help: "html or json.") var format = "html"
        @Option(help: "Write to this file instead of standard output.") var output: String?
        @Option(help: "The configuration naming retention and the alert outbox.") var config: String?
        @Flag(name: .customLong("no-verify"), help: "Do not verify the hash chain (it reads every record).")
        var noVerify = false
        @Flag(name: .customLong("no-journal"), help: "Do not compare with journal anchors.") var noJournal = false

        func validate() throws {
            guard ["html", "json"].contains(format) else { throw ValidationError("--format must be html or json") }
        }

        func run() async throws {
            let now = Date()
            guard let start = TimeExpression.parse(since, now: now) else {
                throw ValidationError("--since: cannot read '\(since)' as a time")
            }
            let end =
                try until.map { text in
                    guard let date = TimeExpression.parse(text, now: now) else {
                        throw ValidationError("--until: cannot read '\(text)' as a time")
                    }
                    return date
                } ?? now
            var report = EvidenceReport(
                host: ProcessInfo.processInfo.hostName, since: start, until: end, generated: now,
                release: AuthSignalRelease.version)
            let settings = try? DaemonConfig.load(path: config ?? DaemonConfig.defaultPath, required: config != nil)
            report.maxAgeDays = settings?.maxAgeDays ?? 0
            report.maxRecords = settings?.maxRecords ?? 0
            do {
                try await read(RecordFilter(since: start, until: end)) { report.add($0) }
                try await read(RecordFilter(limit: 1)) { report.oldestRecord = ($0.seq, $0.received) }
                if !noVerify { report.chain = try await verify() }
            } catch let error as ClientError {
                throw fail(error)
            }
            report.offHost = OffHostCopy.describe()
            if let path = settings?.alerts.databasePath, FileManager.default.isReadableFile(atPath: path),
                let listed = try? Outbox(path: path, readOnly: true).recent(limit: 1_000_000)
            {
                let from = Int64(start.timeIntervalSince1970 * 1_000_000)
                let to = Int64(end.timeIntervalSince1970 * 1_000_000)
                report.alerts = Dictionary(
                    grouping: listed.filter { $0.created >= from && $0.created < to }, by: \.state
                )
                .mapValues(\.count)
            }
            let text =
                format == "json"
                ? String(decoding: CanonicalJSON.encode(report.json), as: UTF8.self) + "\n"
                : EvidenceHTML.render(report)
            if let output {
                do {
                    try ReplacedFile.write(text, to: output)
                } catch {
                    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
                    throw ExitStatus.unavailable.exit
                }
            } else {
                printOut(text)
            }
        }

        private func read(_ filter: RecordFilter, each: (WireRecord) throws -> Void) async throws {
            if let database {
                do {
                    _ = try await AuditLogFile.records(database: database, matching: filter, each: each)
                } catch {
                    throw failReading(error)
                }
            } else {
                _ = try connection.open().request(.query(filter), as: CountAnswer.self, record: each)
            }
        }

        private func verify() async throws -> EvidenceReport.ChainCheck {
            let journal = noJournal ? nil : try? journalOptions.open()
            let result: Verification
            if let database {
                do {
                    result = try await Verifier.verify(database: database, from: nil, to: nil, journal: journal)
                } catch {
                    throw failReading(error)
                }
            } else {
                result = try Verifier.verify(daemon: connection.open(), from: nil, to: nil, journal: journal)
            }
            return EvidenceReport.ChainCheck(
                intact: result.valid, checked: result.checked,
                problem: result.problem.map { "first bad record \($0.seq): \($0.description)" },
                anchorsFound: result.anchorsFound, latestAnchor: result.latestAnchor, anchorHost: result.anchorHost,
                logID: result.logID)
        }
    }
}
