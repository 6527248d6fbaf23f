import ArgumentParser
import AuditJournal
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
                daemon is restarted with them. Stores nothing. See docs/verdicts.md. \
                With --journal-directory, on a fleet's collector: every host's logins with the \
                verdicts its own daemon stored (scope host) and those judged against the whole \
                fleet's records (scope fleet: first-seen-source, success-after-failures), by the \
                [Verdicts] of --config. See docs/fleet.md.
                """)

        @OptionGroup var connection: Connection
        @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
        var database: String?
        @OptionGroup var journal: JournalOptions
        @Option(
            help: """
                With --database: the configuration whose [Verdicts] and [Access] TrustedUsers apply; \
                with --journal-directory, whose [Verdicts] apply.
                """)
        var config: String?
        @Option(parsing: .unconditional, help: "From this time (as for query; default: the whole log).")
        var since: String?
        @Option(parsing: .unconditional, help: "Before this time.") var until: String?
        @Flag(help: "Print each verdict's reason under its login.") var explain = false
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func validate() throws {
            if database != nil && journal.directory != nil {
                throw ValidationError("choose one of --database and --journal-directory")
            }
            if config != nil && database == nil && journal.directory == nil {
                throw ValidationError(
                    "--config applies to --database and --journal-directory only: the daemon judges with its own settings"
                )
            }
        }

        func run() async throws {
            let now = Date()
            let since = try Filters.time(since, option: "since", now: now)
            let until = try Filters.time(until, option: "until", now: now)
            let output = BufferedOutput()
            defer { output.flush() }
            let printer = RecordPrinter(
                format: format, colour: format == .table && stdoutIsColourTerminal, hosts: journal.directory != nil,
                terminal: isatty(1) == 1, write: output.write)
            printer.explainsVerdicts = explain
            var counts: [String: Int] = [:]
            let each = { (record: WireRecord) in
                for verdict in record.verdicts { counts[verdict.label, default: 0] += 1 }
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

        /// `3 logins judged: 2 first-seen-source, 1 success-after-failures`, counted by
        /// ``Verdict/label`` (`first-seen-source@fleet` where scopes are said).
        static func summary(count: Int, counts: [String: Int]) -> String {
            let logins = count == 1 ? "1 login judged" : "\(count) logins judged"
            guard count > 0 else { return "no login judged" }
            let labels = VerdictCode.allCases.flatMap { code in
                [nil, VerdictScope.host, .fleet].map { Verdict(code, "", scope: $0).label }
            }
            let parts = labels.compactMap { label in counts[label].map { "\($0) \(label)" } }
            return "\(logins): " + parts.joined(separator: ", ")
        }

        private func judged(since: Date?, until: Date?, each: (WireRecord) throws -> Void) async throws -> Int {
            if journal.directory != nil { return try judgedAcrossHosts(since: since, until: until, each: each) }
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

        /// The fleet's verdicts over a collector's directory, by `--config`'s `[Verdicts]` (the
        /// defaults when the default file is absent).
        private func judgedAcrossHosts(since: Date?, until: Date?, each: (WireRecord) throws -> Void) throws -> Int {
            let settings: DaemonConfig
            do {
                settings = try DaemonConfig.load(path: config ?? DaemonConfig.defaultPath, required: config != nil)
            } catch {
                throw ValidationError("the configuration cannot be used:\n\(error)")
            }
            var whole = journal
            whole.host = nil
            let history = try whole.openForReading()
            do {
                return try history.judgedAcrossHosts(
                    settings: settings.verdicts, host: journal.host, since: since, until: until, each: each)
            } catch {
                throw failReading(error)
            }
        }
    }
}
