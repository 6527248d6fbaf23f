import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarize a time range: counts, top failing accounts and addresses, a histogram, attack hints.")

        @OptionGroup var source: HistorySource
        @OptionGroup var indexOptions: FleetIndexOptions
        @Option(parsing: .unconditional, help: "From this time (default: today).") var since = "today"
        @Option(parsing: .unconditional, help: "Before this time (default: now).") var until: String?
        @Option(help: "How many accounts and addresses to list.") var top = 10
        @Option(help: "Failures of one account within --window that count as brute force.") var threshold = 5
        @Option(help: "The brute-force window, in minutes.") var window = 10
        @Option(help: "Accounts one password must be tried against to count as spraying.") var sprayAccounts = 3
        @Flag(
            help: """
                Count the events of senders that are not trusted too (by default only root's and \
                [Access] TrustedUsers' count: the daemon's list, or /etc/authsignald.conf's for \
                --database and journals).
                """)
        var includeUntrusted = false

        func validate() throws { try indexOptions.validate(journalDirectory: source.journalOptions.directory) }

        func run() async throws {
            let filters = try Filters.parse(["--since=\(since)"] + (until.map { ["--until=\($0)"] } ?? []))
            let filter = try filters.filter()
            var span: TimeInterval = 86400
            if let start = filter.since { span = (filter.until ?? Date()).timeIntervalSince(start) }
            var summary = AuditSummary(
                bucket: span > 2 * 86400 ? 86400 : 3600, trusted: includeUntrusted ? nil : try source.trustedSenders())
            let progress = Progress()
            let count = { (record: WireRecord) in
                summary.add(record)
                progress.update(summary.total, of: nil, what: "records")
            }
            // The summary sorts what needs an order itself.
            if try !readIndexed(filter, each: count) {
                _ = try await source.records(filter, inAnyOrder: true, each: count)
            }
            progress.done()
            printOut(
                summary.render(
                    top: top, threshold: threshold, window: TimeInterval(window * 60), sprayAccounts: sprayAccounts))
        }

        /// Reads the records of a collector's directory through its index (docs/fleet.md), and
        /// returns whether it could: not for this host's journal, a directory with files not named
        /// by sender, nor without an index.
        private func readIndexed(_ filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Bool {
            guard let index = try indexOptions.index(for: source.journalOptions.directory) else { return false }
            let journal = try source.openJournal()
            do {
                return try index.recordsInAnyOrder(journal, matching: filter, each: each) != nil
            } catch {
                throw failReading(error)
            }
        }
    }
}
