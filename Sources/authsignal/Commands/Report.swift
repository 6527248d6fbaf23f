import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a time range: counts, top failing accounts and addresses, a histogram, attack hints.")

    @OptionGroup var source: HistorySource
    @Option(help: "From this time (default: today).") var since = "today"
    @Option(help: "Before this time (default: now).") var until: String?
    @Option(help: "How many accounts and addresses to list.") var top = 10
    @Option(help: "Failures of one account within --window that count as brute force.") var threshold = 5
    @Option(help: "The brute-force window, in minutes.") var window = 10
    @Option(help: "Accounts one password must be tried against to count as spraying.") var sprayAccounts = 3

    func run() async throws {
        let filters = try Filters.parse(["--since=\(since)"] + (until.map { ["--until=\($0)"] } ?? []))
        let request = try filters.request(op: "query")
        var span: TimeInterval = 86400
        if let start = request["since"]?.stringValue.flatMap(RFC3339.parse) {
            span = (request["until"]?.stringValue.flatMap(RFC3339.parse) ?? Date()).timeIntervalSince(start)
        }
        var report = AuthSignalClient.Report(bucket: span > 2 * 86400 ? 86400 : 3600)
        let progress = Progress()
        _ = try await source.records(request) { record in
            report.add(record)
            progress.update(report.total, of: nil, what: "records")
        }
        progress.done()
        printOut("Records: \(report.total)\n")
        for signal in AuthSignal.allCases {
            printOut(
                "  \(signal.shortName.padding(toLength: 8, withPad: " ", startingAt: 0))\(report.perSignal[signal] ?? 0)\n"
            )
        }
        if !report.perHost.isEmpty {
            printOut("\nRecords by host:\n")
            for (host, count) in AuthSignalClient.Report.top(report.perHost, report.perHost.count) {
                printOut("  \(String(count).leftPadded(7))  \(DisplaySafe.escaped(host))\n")
            }
        }
        for (title, table) in [("accounts", report.failuresPerUser), ("remote addresses", report.failuresPerAddress)] {
            let rows = AuthSignalClient.Report.top(table, top)
            guard !rows.isEmpty else { continue }
            printOut("\nFailures by \(title) (top \(rows.count)):\n")
            for (name, count) in rows { printOut("  \(String(count).leftPadded(7))  \(DisplaySafe.escaped(name))\n") }
        }
        if !report.buckets.isEmpty {
            printOut("\nRecords per \(report.bucket >= 86400 ? "day" : "hour"):\n")
            let largest = report.buckets.values.max() ?? 1
            let formatter = DateFormatter()
            formatter.dateFormat = report.bucket >= 86400 ? "yyyy-MM-dd" : "yyyy-MM-dd HH:00"
            for start in report.buckets.keys.sorted() {
                let count = report.buckets[start] ?? 0
                let bar = String(repeating: "#", count: max(1, count * 40 / largest))
                printOut("  \(formatter.string(from: start))  \(String(count).leftPadded(7))  \(bar)\n")
            }
        }
        let bursts = report.bursts(threshold: threshold, window: TimeInterval(window * 60))
        if !bursts.isEmpty {
            printOut("\nAccounts with \(threshold)+ failures within \(window) minutes (brute force?):\n")
            for hint in bursts {
                printOut(
                    "  \(DisplaySafe.escaped(hint.user)): \(hint.failures) failures from \(RFC3339.format(hint.start))\n"
                )
            }
        }
        let sprays = report.sprays(threshold: sprayAccounts)
        if !sprays.isEmpty {
            printOut("\nOne password tried against \(sprayAccounts)+ accounts (spraying?):\n")
            for hint in sprays { printOut("  \(hint.secretHash): \(hint.accounts) accounts\n") }
        }
    }
}
