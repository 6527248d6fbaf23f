import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalProtocol
import AuthSignalRelease
import Foundation

extension AuthSignalCommand {
    struct Follow: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print records as they are stored, until Ctrl-C or daemon shutdown.")

        @OptionGroup var source: HistorySource
        @OptionGroup var filters: Filters
        @Option(help: "table, json, jsonl, csv, ocsf (OCSF 1.8.0) or ecs (ECS 8.17), docs/export.md.")
        var format = RecordFormat.plain(.table)

        func validate() throws {
            if source.database != nil { throw ValidationError("follow reads the daemon or a journal, not --database") }
        }

        func run() throws {
            let filter = try filters.filter()
            // A parent may have started us with signals blocked; Ctrl-C must work.
            var interrupts = sigset_t()
            sigemptyset(&interrupts)
            sigaddset(&interrupts, SIGINT)
            sigaddset(&interrupts, SIGTERM)
            sigprocmask(SIG_UNBLOCK, &interrupts, nil)
            signal(SIGTERM) { _ in _exit(0) }
            signal(SIGINT) { _ in
                let message = "\nauthsignal: follow stopped\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
                _exit(0)
            }
            let printer = RecordPrinter(
                format: format, colour: stdoutIsColourTerminal, streaming: true,
                hosts: source.readsJournal, terminal: isatty(1) == 1, release: AuthSignalRelease.version,
                write: printOut)
            if source.readsJournal {
                do {
                    try source.openJournal().follow(matching: filter) { printer.add($0) }
                } catch {
                    throw failReading(error)
                }
            }
            do {
                let answer = try source.connection.open().request(.follow(filter), as: CountAnswer.self) {
                    printer.add($0)
                }
                printer.finish()
                let count = answer.count
                FileHandle.standardError.write(
                    Data("authsignal: the daemon ended the follow (shutting down); \(count) records\n".utf8))
            } catch {
                throw fail(error)
            }
        }
    }
}
