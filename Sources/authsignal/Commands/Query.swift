import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import AuthSignalRelease
import Foundation

extension AuthSignalCommand {
    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit records matching filters.")

        @OptionGroup var source: HistorySource
        @OptionGroup var filters: Filters
        @Option(help: "At most this many records.") var limit: Int?
        @Flag(help: "Newest first.") var reverse = false
        @Option(help: "table, json, jsonl, csv, ocsf (OCSF 1.8.0) or ecs (ECS 8.17), docs/export.md.")
        var format = RecordFormat.plain(.table)

        func run() async throws {
            var filter = try filters.filter()
            filter.limit = limit
            if reverse { filter.order = .descending }
            let output = BufferedOutput()
            defer { output.flush() }
            let printer = RecordPrinter(
                format: format, colour: stdoutIsColourTerminal, hosts: source.readsJournal,
                terminal: isatty(1) == 1, release: AuthSignalRelease.version, write: output.write)
            let count: Int
            if printer.printsJSON, let direct = try source.recordJSON(filter, each: printer.add(recordJSON:)) {
                count = direct
            } else {
                count = try await source.records(filter) { printer.add($0) }
            }
            printer.finish()
            output.flush()
            if count == 0 {
                if format == .plain(.table) { FileHandle.standardError.write(Data("no records matched\n".utf8)) }
                if source.journal && getuid() != 0 {
                    // sd_journal shows other users only their own entries, without an error.
                    FileHandle.standardError.write(
                        Data("(the system journal is readable only by root and groups systemd-journal and adm)\n".utf8))
                }
                throw ExitStatus.nothing.exit
            }
        }
    }
}
