import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalCore
import Foundation

extension AuthSignalCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log's hash chain, and compare it with the chain anchors in the journal.",
            discussion: """
                Through the daemon by default, or offline with --database (read-only). Anchors come from this \
                host's journal, or from --journal-directory; only anchors of the same log (its log id) count. \
                Exit status 5 when the log was tampered with.
                """)

        @OptionGroup var connection: Connection
        @Option(help: "Verify this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
        var database: String?
        @Option(
            name: .customLong("journal-directory"),
            help: "Read the chain anchors from the journal files in this directory."
        )
        var journalDirectory: String?
        @OptionGroup var writer: JournalWriterOptions
        @Flag(name: .customLong("no-journal"), help: "Do not compare with journal anchors.") var noJournal = false
        @Option(help: "First seq to check.") var from: Int64?
        @Option(help: "Last seq to check.") var to: Int64?

        func run() async throws {
            // The journal holds anchors only where the daemon wrote them; without one, the chain is
            // still checked on its own.
            let journal =
                noJournal
                ? nil
                : try? JournalHistory(
                    directory: journalDirectory, writer: writer.writer(collected: journalDirectory != nil))
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
                printOut("TAMPERED: first bad record \(problem.seq): \(problem.description)\n")
                throw ExitStatus.tampered.exit
            }
            printOut("chain intact: \(result.checked) records verified\n")
            if let latest = result.latestAnchor {
                printOut(
                    "journal anchors: \(result.anchorsFound) found for log \(result.logID ?? "?"); the log agrees with the newest (record \(latest))\n"
                )
            } else if !noJournal {
                printOut("journal anchors: none found for this log (the chain was checked on its own)\n")
            }
        }
    }
}
