import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Last: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List login sessions: who, from where, when, for how long (newest first).",
            discussion: """
                Each login is paired with its logout by the pairing key the PAM hook sends; a \
                session without a logout is still logged in, or gone when the host rebooted since. \
                See docs/sessions.md. With --journal-directory, the sessions of every host whose files a                 collector holds, each host's paired apart and judged against its own boots (docs/fleet.md).
                """)

        @OptionGroup var source: ActivitySource
        @Option(help: "Only this account.") var user: String?
        @Option(parsing: .unconditional, help: "Only sessions in progress at or after this time (forms as query's).")
        var since: String?
        @Option(parsing: .unconditional, help: "Only sessions begun before this time.") var until: String?
        @Option(parsing: .unconditional, help: "Only sessions in progress at this time: who was logged in then.")
        var present: String?
        @Flag(help: "Only sessions still logged in.") var open = false
        @Option(help: "At most this many sessions.") var limit: Int?
        @Flag(help: "Oldest first.") var reverse = false
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func run() async throws {
            let now = Date()
            var filter = SessionFilter(
                user: user, openOnly: open, limit: limit, order: reverse ? .ascending : .descending)
            filter.since = try Filters.time(since, option: "since", now: now)
            filter.until = try Filters.time(until, option: "until", now: now)
            filter.present = try Filters.time(present, option: "present", now: now)
            let printer = ActivityPrinter(
                format: format, layout: source.layout(.sessions), terminal: isatty(1) == 1, write: printOut)
            let count = try await source.sessions(filter) { printer.add($0) }
            printer.finish()
            if count == 0 {
                if format == .table { FileHandle.standardError.write(Data("no sessions matched\n".utf8)) }
                throw ExitStatus.nothing.exit
            }
        }
    }
}
