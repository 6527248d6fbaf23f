import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Who: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who is logged in now: the sessions still open, oldest login first.",
            discussion: """
                What who(1) and w(1) printed from utmp, which current Debian no longer keeps: each login \
                whose logout has not come, unless the host rebooted since (docs/sessions.md). No idle \
                time or current command: the log knows logins, not processes. With                 --journal-directory: who is logged in on any host of a collector's files (docs/fleet.md).
                """)

        @OptionGroup var source: ActivitySource
        @Option(help: "Only this account.") var user: String?
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func run() async throws {
            let filter = SessionFilter(user: user, openOnly: true, order: .ascending)
            let printer = ActivityPrinter(
                format: format, layout: source.layout(.loggedIn), terminal: isatty(1) == 1, write: printOut)
            let count = try await source.sessions(filter) { printer.add($0) }
            printer.finish()
            if count == 0 {
                if format == .table { FileHandle.standardError.write(Data("nobody is logged in\n".utf8)) }
                throw ExitStatus.nothing.exit
            }
        }
    }
}
