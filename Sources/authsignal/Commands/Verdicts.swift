import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Verdicts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the stored history through the verdict rules and print what they flag.",
            discussion: """
                Every trusted login and failure in the log is replayed in order through the rules, \
                and the logins received in the period that they judge are printed with their verdicts \
                and counted per verdict: the noise to expect before acting on them. Through the \
                daemon the rules use its running [Verdicts] settings; with --database, those of \
                --config (default /etc/authsignald.conf), so that new values can be tried before the \
                daemon is restarted with them. Stores nothing. See docs/verdicts.md.
                """)

        @OptionGroup var connection: Connection
        @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
        var database: String?
        @Option(help: "With --database: the configuration whose [Verdicts] and [Access] TrustedUsers apply.")
        var config: String?
        @Option(parsing: .unconditional, help: "From this time (as for query; default: the whole log).")
        var since: String?
        @Option(parsing: .unconditional, help: "Before this time.") var until: String?
        @Flag(help: "Print each verdict's reason under its login.") var explain = false
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func validate() throws {
            if config != nil && database == nil {
                throw ValidationError("--config applies to --database only: the daemon judges with its own settings")
            }
        }

        func run() async throws {
            let now = Date()
            let since = try Filters.time(since, option: "since", now: now)
            let until = try Filters.time(until, option: "until", now: now)
            let output = BufferedOutput()
            defer { output.flush() }
            let printer = RecordPrinter(
                format: format, colour: format == .table && stdoutIsColourTerminal, hosts: false,
                terminal: isatty(1) == 1, write: output.write)
            printer.explainsVerdicts = explain
            var counts: [VerdictCode: Int] = [:]
            let each = { (record: WireRecord) in
                for verdict in record.verdicts { counts[verdict.code, default: 0] += 1 }
                printer.add(record)
            }
            let count = try await judged(since: since, until: until, each: each)
            printer.finish()
            if format == .table {
                output.write(Self.summary(count: count, counts: counts) + "\n")
            }
            output.flush()
            if count == 0 { throw ExitStatus.nothing.exit }
        }

        /// `3 logins judged: 2 first-seen-source, 1 success-after-failures`.
        static func summary(count: Int, counts: [VerdictCode: Int]) -> String {
            let logins = count == 1 ? "1 login judged" : "\(count) logins judged"
            guard count > 0 else { return "no login judged" }
            let parts = VerdictCode.allCases.compactMap { code in counts[code].map { "\($0) \(code.rawValue)" } }
            return "\(logins): " + parts.joined(separator: ", ")
        }

        private func judged(since: Date?, until: Date?, each: (WireRecord) throws -> Void) async throws -> Int {
            guard let database else {
                do {
                    return try connection.open().request(
                        .verdicts(since: since, until: until), as: CountAnswer.self, record: each
                    ).count
                } catch {
                    throw fail(error)
                }
            }
            let settings: DaemonConfig
            do {
                settings = try DaemonConfig.load(path: config ?? DaemonConfig.defaultPath, required: config != nil)
            } catch {
                throw ValidationError("the configuration cannot be used:\n\(error)")
            }
            do {
                return try await AuditLogFile.verdicts(
                    database: database, config: settings, since: since, until: until, each: each)
            } catch {
                throw failReading(error)
            }
        }
    }
}
