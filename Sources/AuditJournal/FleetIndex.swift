package import AuditStore
package import AuthSignalProtocol
import Foundation

/// The sessions, accounts and records of a collector's hosts, each host's in a file of its own
/// (``HostActivityIndex``), fed from its journal files before each answer with what arrived since
/// the last: `last`, `who`, `lastlog` and `report` over a fleet then read the new entries only,
/// not every record of every host (docs/fleet.md). A cache of what the journal files hold:
/// deleting it costs only the time to build it again.
package struct FleetIndex {
    /// Where the files are.
    package let directory: String
    /// What each index is fed: every record (its books count the logins, logouts and failures).
    private static let signals = AuthSignal.allCases

    /// Keeps the indexes in `directory`, made (mode 0700: they hold what the journals hold) if
    /// missing.
    package init(directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.directory = directory
    }

    /// Where the indexes of the collector's directory `journals` are kept by default: under
    /// `/var/cache/authsignal/fleet`, named after its absolute path as `systemd-escape --path`
    /// names a path.
    package static func defaultDirectory(for journals: String) -> String {
        let absolute = URL(fileURLWithPath: journals).standardizedFileURL.path
        return "/var/cache/authsignal/fleet/" + escapedPath(absolute)
    }

    /// `path` as `systemd-escape --path` writes it: without its outer slashes, `/` as `-`, and
    /// every byte but ASCII letters, digits, `_` and a `.` that does not lead as `\xNN`.
    static func escapedPath(_ path: String) -> String {
        let trimmed = path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        guard !trimmed.isEmpty else { return "-" }
        var escaped = ""
        for (offset, byte) in trimmed.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "/"): escaped += "-"
            case UInt8(ascii: "."):
                escaped += offset == 0 ? "\\x2e" : "."
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            default: escaped += String(format: "\\x%02x", byte)
            }
        }
        return escaped
    }

    /// Each host of `journal` with its index, fed first with the entries written since it was
    /// last fed, and the boot it is in (``JournalHistory/boot(of:)``, read while feeding); `nil`
    /// when `journal` is not a collector's directory of files named by sender, for which no index
    /// is kept.
    package func updated(
        _ journal: JournalHistory
    ) throws -> [(host: String, index: HostActivityIndex, boot: BootContext)]? {
        guard let senders = journal.namedSenders else { return nil }
        return try senders.map { sender, paths in
            // A file name holds no `/`, so neither does a sender's name taken from one.
            let index = try HostActivityIndex(path: directory + "/" + sender + ".db")
            let boot = try journal.activity(
                of: Self.signals, sender: sender, paths: paths, after: index.cursor(), batch: 8192
            ) { records, cursor in
                try index.feed(records, through: cursor)
            }
            return (sender, index, boot)
        }
    }

    /// Calls `each` with every record `filter` selects on each host of `journal`, read from the
    /// hosts' indexes (fed first), one host after another, each host's in the order received;
    /// returns how many, or `nil` when `journal` is not a collector's directory of files named by
    /// sender. For answers that only count, as ``JournalHistory/recordsInAnyOrder(matching:each:)``.
    package func recordsInAnyOrder(
        _ journal: JournalHistory, matching filter: RecordFilter, each: (WireRecord) throws -> Void
    ) throws -> Int? {
        guard let indexed = try updated(journal) else { return nil }
        let limit = filter.limit ?? .max
        var count = 0
        for (host, index, _) in indexed where count < limit {
            try index.records(since: filter.since, until: filter.until, host: host) { record in
                guard count < limit, filter.matches(record) else { return }
                try each(record)
                count += 1
            }
        }
        return count
    }
}
