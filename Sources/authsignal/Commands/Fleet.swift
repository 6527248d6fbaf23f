import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Fleet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The fleet as a collector sees it (docs/fleet.md).",
            subcommands: [Status.self],
            defaultSubcommand: Status.self)
    }
}

extension AuthSignalCommand.Fleet {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per host: the last record and anchor collected, when it was last heard, and whether "
                + "its anchors agree.",
            discussion: """
                Reads a collector's directory (--journal-directory). A host is silent when nothing of its \
                daemon arrived within --silent-after: its daemon anchors its chain head at least every \
                [Journal] AnchorHeartbeatSec (300 s), records or not, so silence means its daemon, its \
                journal or its uploader stopped (PCI DSS 10.3.3, 10.7.2). Anchors disagree when a record \
                was anchored with two hashes or the log went back. Exit status: 5 when some host's anchors \
                disagree, else 3 when some host is silent, else 0.
                """)

        @OptionGroup var journal: JournalOptions
        @Option(
            name: .customLong("silent-after"),
            help: ArgumentHelp(
                "A host not heard from for this long is silent (15min, 1h; default 15min).", valueName: "span"))
        var silentAfter = "15min"
        @Option(help: "table, json or jsonl.") var format = OutputFormat.table

        func validate() throws {
            guard journal.directory != nil else { throw ValidationError("fleet status needs --journal-directory") }
            guard format != .csv else { throw ValidationError("--format must be table, json or jsonl") }
            guard silentAllowance != nil else {
                throw ValidationError("--silent-after: cannot read '\(silentAfter)' as a span such as 15min or 1h")
            }
        }

        /// `--silent-after` in seconds.
        private var silentAllowance: TimeInterval? {
            let now = Date()
            return TimeExpression.parse("-" + silentAfter, now: now).map { now.timeIntervalSince($0) }.flatMap {
                $0 > 0 ? $0 : nil
            }
        }

        func run() async throws {
            let history = try journal.openForReading()
            let statuses: [HostStatus]
            do {
                guard let found = try history.hostStatuses() else {
                    throw ValidationError(
                        "\(journal.directory ?? "") is not a collector's directory of files named by sender "
                            + "(remote-NAME.journal)")
                }
                statuses = found
            } catch let error as ValidationError {
                throw error
            } catch {
                throw failReading(error)
            }
            let now = Date()
            let allowed = silentAllowance ?? 900
            let output = BufferedOutput()
            defer { output.flush() }
            switch format {
            case .table: output.write(FleetStatusListing.table(statuses, now: now, allowed: allowed))
            case .json:
                let objects = statuses.map { FleetStatusListing.json($0, now: now, allowed: allowed) }
                output.write("[" + objects.joined(separator: ",\n") + "]\n")
            default:
                for status in statuses {
                    output.write(FleetStatusListing.json(status, now: now, allowed: allowed) + "\n")
                }
            }
            if statuses.contains(where: { !$0.problems.isEmpty }) { throw ExitStatus.tampered.exit }
            if statuses.contains(where: { $0.isSilent(now: now, allowed: allowed) }) {
                throw ExitStatus.unavailable.exit
            }
        }
    }
}

/// `fleet status` as a table or as JSON objects.
enum FleetStatusListing {
    /// One row per host, then each host's anchor problems.
    static func table(_ statuses: [HostStatus], now: Date, allowed: TimeInterval) -> String {
        let rows = statuses.map { status -> [String] in
            [
                status.host, status.lastRecord.map { String($0.entry.seq) } ?? "-",
                status.lastRecord.map { RecordPrinter.localTime($0.received) } ?? "-",
                status.lastAnchor.map { String($0.entry.seq) } ?? "-",
                status.heard.map { ago($0, now: now) } ?? "never", verdict(status, now: now, allowed: allowed),
            ].map(DisplaySafe.escaped)
        }
        var text = RecordPrinter.aligned(
            header: ["HOST", "LAST RECORD", "RECEIVED", "LAST ANCHOR", "HEARD", "STATUS"], rows: rows
        ).map { $0 + "\n" }.joined()
        for status in statuses {
            for problem in status.problems { text += DisplaySafe.escaped("\(status.host): \(problem)") + "\n" }
        }
        return text
    }

    /// A host's status as one JSON object.
    static func json(_ status: HostStatus, now: Date, allowed: TimeInterval) -> String {
        func written(_ entry: HostStatus.Written) -> [String: JSONValue] {
            ["seq": .int(entry.seq), "written": .string(RFC3339.format(entry.written))]
        }
        var record = status.lastRecord.map { written($0.entry) }
        record?["received"] = status.lastRecord.map { .string(RFC3339.format($0.received)) }
        var anchor = status.lastAnchor.map { written($0.entry) }
        anchor?["log_id"] = status.lastAnchor?.logID.map(JSONValue.string) ?? .null
        let object: JSONObject = [
            "host": .string(status.host),
            "last_record": record.map { .object(JSONObject($0)) } ?? .null,
            "last_anchor": anchor.map { .object(JSONObject($0)) } ?? .null,
            "anchors": .int(Int64(status.anchors)), "logs": .int(Int64(status.logs.count)),
            "heard": status.heard.map { .string(RFC3339.format($0)) } ?? .null,
            "silent": .bool(status.isSilent(now: now, allowed: allowed)),
            "problems": .array(status.problems.map(JSONValue.string)),
        ]
        return String(decoding: CanonicalJSON.encode(object), as: UTF8.self)
    }

    private static func verdict(_ status: HostStatus, now: Date, allowed: TimeInterval) -> String {
        if !status.problems.isEmpty { return "ANCHORS DISAGREE" }
        if status.heard == nil { return "SILENT (never heard)" }
        return status.isSilent(now: now, allowed: allowed) ? "SILENT" : "ok"
    }

    /// How long before `now` `date` was, roughly: `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
    private static func ago(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds) s ago"
        case ..<7200: return "\(seconds / 60) min ago"
        case ..<172_800: return "\(seconds / 3600) h ago"
        default: return "\(seconds / 86400) d ago"
        }
    }
}
