import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Lastb: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Failed logins, newest first, in lastb's layout.",
            discussion: """
                What lastb(1) printed from btmp, which current Debian no longer keeps: every failed login \
                in the audit log (and btmp history brought in with `authsignal import`). Rows are those of \
                `lastb -w` (names are never cut); a name that is no account shows as its keyed hash. \
                --format json, jsonl or csv print the records as query does.
                """)

        @OptionGroup var source: HistorySource
        @Option(help: "Only this account.") var user: String?
        @Option(
            parsing: .unconditional, help: "Only failures that happened at or after this time (forms as query's).")
        var since: String?
        @Option(parsing: .unconditional, help: "Only failures that happened before this time.") var until: String?
        @Option(name: [.customShort("n"), .long], help: "At most this many.") var limit: Int?
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func run() async throws {
            let now = Date()
            let earliest = try Filters.time(since, option: "since", now: now)
            let latest = try Filters.time(until, option: "until", now: now)
            // The window is on when each failure happened (imported btmp history was stored later),
            // so it is applied here; without one, the daemon stops at the limit itself.
            let windowed = earliest != nil || latest != nil
            let filter = RecordFilter(
                user: user, signal: .userLoginFailed, limit: windowed ? nil : limit, order: .descending)
            let output = BufferedOutput()
            defer { output.flush() }
            let printer =
                format == .table
                ? nil
                : RecordPrinter(
                    format: format, colour: false, hosts: source.readsJournal, terminal: isatty(1) == 1,
                    write: output.write)
            var hashed = false
            var count = 0
            _ = try await source.records(filter) { record in
                let when = record.time ?? record.received
                guard earliest.map({ when >= $0 }) ?? true, latest.map({ when < $0 }) ?? true,
                    count < limit ?? Int.max
                else { return }
                count += 1
                if let printer { return printer.add(record) }
                hashed = hashed || record.user.map(HashedName.isHashed) == true
                output.write(Self.row(record, host: source.readsJournal) + "\n")
            }
            if let printer {
                printer.finish()
                if count == 0 { throw ExitStatus.nothing.exit }
                return
            }
            var first: Date?
            _ = try await source.records(RecordFilter(limit: 1)) { first = $0.received }
            output.write(
                "\naudit log begins " + (first.map { Self.localTime($0, "%a %b %e %H:%M:%S %Y") } ?? "-") + "\n")
            if hashed { output.write(HashedName.legend + "\n") }
            if count == 0 { throw ExitStatus.nothing.exit }
        }

        /// One failure as `lastb -w` prints a btmp entry: user, tty, host (padded to 8, 12 and 16,
        /// never cut), when, ` - ` the same minute, `  (00:00)`. Records from journals start with
        /// their host.
        static func row(_ record: WireRecord, host: Bool) -> String {
            func padded(_ text: String, _ width: Int) -> String {
                text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
            }
            let when = record.time ?? record.received
            let cells = [
                padded(DisplaySafe.escaped(HashedName.abbreviated(record.user ?? "")), 8),
                padded(DisplaySafe.escaped(record.request?["tty"]?.stringValue ?? ""), 12),
                padded(DisplaySafe.escaped(record.remoteAddr ?? ""), 16),
                localTime(when, "%a %b %e %H:%M") + " - " + localTime(when, "%H:%M") + "  (00:00)",
            ]
            let prefix = host ? padded(DisplaySafe.escaped(record.host ?? "-"), 16) + " " : ""
            return prefix + cells.joined(separator: " ")
        }

        /// `date` in the local time zone by strftime's `format` (as lastb prints, in the C locale).
        static func localTime(_ date: Date, _ format: String) -> String {
            var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
            var parts = tm()
            guard localtime_r(&seconds, &parts) != nil else { return RFC3339.format(date) }
            var buffer = [CChar](repeating: 0, count: 64)
            let length = strftime(&buffer, buffer.count, format, &parts)
            return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
