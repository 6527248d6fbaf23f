import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log's hash chain, and compare it with the chain anchors in the journal.",
            discussion: """
                Through the daemon by default, or offline with --database (read-only). Anchors come from this \
                host's journal, or from --journal-directory; only anchors of the same log (its log id) count. \
                Exit status 5 when the log was tampered with. With --status-file the outcome is also kept \
                there (authsignal-verify.timer keeps it beside the audit log, where the alert service's \
                Health=verify-failed rules read it; docs/alerts.md).
                """)

        @OptionGroup var connection: Connection
        @Option(help: "Verify this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
        var database: String?
        @OptionGroup var journalOptions: JournalOptions
        @Flag(name: .customLong("no-journal"), help: "Do not compare with journal anchors.") var noJournal = false
        @Option(help: "First seq to check.") var from: Int64?
        @Option(help: "Last seq to check.") var to: Int64?
        @Option(help: "Also write the outcome to this file, as JSON (for the alert service).")
        var statusFile: String?

        func run() async throws {
            do {
                try keep(.intact, try await check())
            } catch let exit as ExitCode where exit == ExitStatus.tampered.exit {
                throw exit
            } catch let exit as ExitCode {
                try keep(.unavailable, "the check could not be made (exit status \(exit.rawValue)); see the journal")
                throw exit
            }
        }

        /// Writes the outcome to --status-file, if given.
        private func keep(_ result: VerifyStatus.Result, _ detail: String) throws {
            guard let statusFile else { return }
            do {
                try VerifyStatus(time: RFC3339.format(Date()), result: result, detail: detail).write(to: statusFile)
            } catch {
                throw failReading(error)
            }
        }

        /// Verifies and prints the outcome; returns its first line when the chain is intact.
        private func check() async throws -> String {
            let journal = try openJournal()
            let progress = Progress()
            progress.note("verifying the hash chain…")
            let result: Verification
            do {
                if let database {
                    result = try await Verifier.verify(database: database, from: from, to: to, journal: journal)
                } else {
                    result = try Verifier.verify(daemon: connection.open(), from: from, to: to, journal: journal)
                }
                progress.done()
            } catch let error as ClientError {
                progress.done()
                throw fail(error)
            } catch {
                progress.done()
                throw failReading(error)
            }
            if let problem = result.problem {
                let said = "TAMPERED: first bad record \(problem.seq): \(problem.description)"
                printOut(said + "\n")
                try keep(.tampered, said)
                throw ExitStatus.tampered.exit
            }
            let intact = "chain intact: \(result.checked) records verified"
            printOut(intact + "\n")
            if let latest = result.latestAnchor {
                let origin = result.anchorHost.map { " from host \($0)" } ?? ""
                printOut(
                    "journal anchors: \(result.anchorsFound) found for log \(result.logID ?? "?")\(origin); the log agrees with the newest (record \(latest))\n"
                )
            } else if !noJournal {
                printOut("journal anchors: none found for this log (the chain was checked on its own)\n")
            }
            return intact
        }

        /// The journal to take anchors from; `nil` with --no-journal, or where no journal can be
        /// read (the chain is then checked on its own). Asking for one host's files of a directory
        /// that has none is an error, not a silent check without anchors.
        private func openJournal() throws -> JournalHistory? {
            guard !noJournal else { return nil }
            do {
                return try journalOptions.open()
            } catch let error as JournalHistoryError {
                throw failReading(error)
            } catch {
                return nil
            }
        }
    }
}
