package import AuthSignalProtocol
package import AuthSignalStandards
package import Foundation

/// How records are printed.
package enum OutputFormat: String, CaseIterable, Sendable {
    /// Aligned columns, local time, colour on a terminal.
    case table
    /// One JSON array.
    case json
    /// One JSON object per line, as the daemon sends them.
    case jsonl
    /// RFC 4180 CSV with a header.
    case csv
}

/// How `query` and `follow` print records: an ``OutputFormat``, or one JSON line per record in a
/// ``StandardFormat`` (`ocsf`, `ecs`).
package enum RecordFormat: Equatable, Sendable, CaseIterable {
    case plain(OutputFormat)
    case standard(StandardFormat)

    package static let allCases: [RecordFormat] =
        OutputFormat.allCases.map(Self.plain) + StandardFormat.allCases.map(Self.standard)

    /// The format named `name` (`table`, `json`, `jsonl`, `csv`, `ocsf`, `ecs`).
    package init?(name: String) {
        if let plain = OutputFormat(rawValue: name) {
            self = .plain(plain)
        } else if let standard = StandardFormat(rawValue: name) {
            self = .standard(standard)
        } else {
            return nil
        }
    }

    /// Its name on the command line.
    package var name: String {
        switch self {
        case .plain(let format): format.rawValue
        case .standard(let format): format.rawValue
        }
    }
}

/// Prints records from the daemon (or the database) in an ``OutputFormat``. Every field a client
/// supplied is escaped for the terminal: a hostile user name cannot inject escape sequences.
package final class RecordPrinter {
    private let format: OutputFormat
    /// Set when each record is printed as one line of a standard schema, as from `host`, by
    /// authsignal `release`.
    private let standard: (format: StandardFormat, host: ExportHost, release: String)?
    private let colour: Bool
    private let write: (String) -> Void
    private var rows: [[String]] = []
    private var signals: [AuthSignal] = []
    /// Whether a table shows each verdict's reason under its row, or its code only.
    package var explainsVerdicts = true
    /// The verdict lines under each collected row.
    private var verdicts: [[String]] = []
    /// Whether a table row showed an abbreviated keyed hash (the legend is then printed).
    private var showedHash = false
    private var count = 0
    private let streaming: Bool
    private let hosts: Bool
    private let terminal: Bool

    /// A printer; `streaming` prints table rows at once with fixed widths (for `follow`); `hosts`
    /// adds a host column to tables and CSV (records read from many hosts' journals); `terminal`
    /// escapes CSV values as the table does.
    package init(
        format: OutputFormat, colour: Bool, streaming: Bool = false, hosts: Bool = false, terminal: Bool = false,
        write: @escaping (String) -> Void
    ) {
        self.format = format
        self.standard = nil
        self.terminal = terminal
        self.colour = colour
        self.streaming = streaming
        self.hosts = hosts
        self.write = write
        switch format {
        case .csv:
            write(
                "seq,received,time,signal,sender,user,remote_addr,peer_uid,peer_gid,peer_pid,request,credentials,hash,"
                    + "verdicts" + (hosts ? ",host\n" : "\n"))
        case .json: if streaming { break } else { write("[") }
        default: break
        }
        if format == .table && streaming { write(Self.line(header, widths: fixedWidths) + "\n") }
    }

    /// A printer of one JSON line per record in `standard`, the records' host being `host`
    /// unless they name their own (read from journals), exported by authsignal `release`.
    package init(standard: StandardFormat, host: ExportHost, release: String, write: @escaping (String) -> Void) {
        self.format = .jsonl
        self.standard = (standard, host, release)
        self.colour = false
        self.streaming = true
        self.hosts = false
        self.terminal = false
        self.write = write
    }

    /// A printer for `format`: ``init(standard:host:release:write:)`` for a standard schema (this
    /// machine's host, authsignal `release`), else ``init(format:colour:streaming:hosts:terminal:write:)``.
    package convenience init(
        format: RecordFormat, colour: Bool, streaming: Bool = false, hosts: Bool = false, terminal: Bool = false,
        release: String, write: @escaping (String) -> Void
    ) {
        switch format {
        case .plain(let plain):
            self.init(
                format: plain, colour: colour && plain == .table, streaming: streaming, hosts: hosts,
                terminal: terminal, write: write)
        case .standard(let standard): self.init(standard: standard, host: .local(), release: release, write: write)
        }
    }

    private var header: [String] {
        (hosts ? ["HOST"] : []) + ["SEQ", "RECEIVED", "SIGNAL", "USER", "REMOTE ADDR", "SENDER"]
    }
    private var fixedWidths: [Int] { (hosts ? [16] : []) + [8, 19, 7, 24, 18, 12] }

    /// Prints (or, for a table, collects) one record.
    package func add(_ record: WireRecord) {
        count += 1
        if let standard {
            write(
                String(
                    decoding: standard.format.encode(record, host: standard.host, release: standard.release),
                    as: UTF8.self) + "\n")
            return
        }
        switch format {
        case .jsonl:
            write(Self.json(record) + "\n")
        case .json:
            let text = Self.json(record)
            if streaming { write(text + "\n") } else { write((count > 1 ? ",\n" : "\n") + text) }
        case .csv:
            let host = hosts ? "," + Self.csvField(record.host ?? "", forTerminal: terminal) : ""
            write(Self.csvRow(record, forTerminal: terminal) + host + "\n")
        case .table:
            let row = (hosts ? [DisplaySafe.escaped(record.host ?? "-")] : []) + Self.tableRow(record)
            if let user = record.user, HashedName.isHashed(user), !showedHash {
                showedHash = true
                // A follow never finishes: its legend comes before the first such row.
                if streaming { write(HashedName.legend + "\n") }
            }
            if streaming {
                write(paint(Self.line(row, widths: fixedWidths), signal: record.signal) + "\n")
                for line in Self.verdictLines(record, reasons: explainsVerdicts) { write(line + "\n") }
            } else {
                rows.append(row)
                signals.append(record.signal)
                verdicts.append(Self.verdictLines(record, reasons: explainsVerdicts))
            }
        }
    }

    /// Whether records are printed as their JSON objects (`json`, `jsonl`).
    package var printsJSON: Bool { standard == nil && (format == .json || format == .jsonl) }

    /// Prints one record given as its JSON object, already encoded (``printsJSON`` formats only).
    package func add(recordJSON object: ArraySlice<UInt8>) {
        precondition(printsJSON, "a record's JSON object printed as \(format)")
        count += 1
        let text = String(decoding: object, as: UTF8.self)
        if format == .jsonl || streaming { write(text + "\n") } else { write((count > 1 ? ",\n" : "\n") + text) }
    }

    private static func json(_ record: WireRecord) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        record.appendObject(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Prints what was collected.
    package func finish() {
        switch format {
        case .json where !streaming: write(count > 0 ? "\n]\n" : "]\n")
        case .table where !streaming:
            guard !rows.isEmpty else { return }
            let lines = Self.aligned(header: header, rows: rows)
            write(lines[0] + "\n")
            for (index, line) in lines.dropFirst().enumerated() {
                write(paint(line, signal: signals[index]) + "\n")
                for verdict in verdicts[index] { write(verdict + "\n") }
            }
            if showedHash { write(HashedName.legend + "\n") }
        default: break
        }
    }

    private func paint(_ text: String, signal: AuthSignal) -> String {
        guard colour else { return text }
        switch signal {
        case .userLoginFailed, .passwordChangeFailed: return "\u{1B}[31m" + text + "\u{1B}[0m"
        case .userLoggedIn: return "\u{1B}[32m" + text + "\u{1B}[0m"
        case .passwordChanged, .accountAdded, .accountRemoved, .accountLocked, .accountUnlocked,
            .groupMembershipChanged:
            return "\u{1B}[33m" + text + "\u{1B}[0m"
        case .userLoggedOut, .daemonStarted, .daemonStopped, .configReloaded, .retentionRan: return text
        }
    }

    /// The header and rows as lines of columns as wide as their widest cell, two spaces apart.
    package static func aligned(header: [String], rows: [[String]]) -> [String] {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return ([header] + rows).map { line($0, widths: widths) }
    }

    private static func line(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { cell, width in
            cell.count >= width ? cell : cell + String(repeating: " ", count: width - cell.count)
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }

    static func tableRow(_ record: WireRecord) -> [String] {
        [
            String(record.seq), localTime(record.received), record.signal.shortName,
            DisplaySafe.escaped(record.user.map(HashedName.abbreviated) ?? "-"),
            DisplaySafe.escaped(record.remoteAddr ?? "-"),
            DisplaySafe.escaped(record.sender),
        ]
    }

    /// The lines under a judged record's row, one per verdict: `  ! CODE: reason`, or `  ! CODE`
    /// (`CODE@SCOPE` where the scope is said, on a fleet's collector).
    static func verdictLines(_ record: WireRecord, reasons: Bool) -> [String] {
        record.verdicts.map { "  ! \($0.label)" + (reasons ? ": \(DisplaySafe.escaped($0.reason))" : "") }
    }

    static func csvRow(_ record: WireRecord, forTerminal: Bool = false) -> String {
        let fields: [String] = [
            String(record.seq), RFC3339.format(record.received), record.time.map(RFC3339.format) ?? "",
            record.signal.rawValue, record.sender, record.user ?? "", record.remoteAddr ?? "",
            record.peer.map { String($0.uid) } ?? "", record.peer.map { String($0.gid) } ?? "",
            record.peer.map { String($0.pid) } ?? "", json(record.request),
            json(record.credentials), Hex.encode(record.hash),
            record.verdicts.map(\.label).joined(separator: " "),
        ]
        return fields.map { csvField($0, forTerminal: forTerminal) }.joined(separator: ",")
    }

    /// RFC 4180: quote a field holding a comma, quote, CR or LF, doubling quotes. A field starting
    /// with `=`, `+`, `-`, `@`, a tab or a CR is prefixed with `'` so spreadsheets do not run it as
    /// a formula (OWASP's list). For a terminal, control and bidirectional characters are escaped
    /// as in the table (a file keeps the exact values).
    static func csvField(_ text: String, forTerminal: Bool = false) -> String {
        var value = forTerminal ? DisplaySafe.escaped(text) : text
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), Double(value) == nil {
            value = "'" + value
        }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func json(_ object: JSONObject?) -> String {
        guard let object else { return "" }
        return String(decoding: CanonicalJSON.encode(object), as: UTF8.self)
    }

    /// `date` in the local time zone as `YYYY-MM-DD hh:mm:ss`, in the proleptic Gregorian
    /// calendar, as RFC 3339 and the JSON forms count: Foundation's calendars switch to the Julian
    /// one before 1582, which printed 0001-01-01 as 0001-01-03. glibc's `localtime_r` does not.
    package static func localTime(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return RFC3339.format(date) }
        func padded(_ value: Int32, _ width: Int) -> String {
            let digits = String(abs(value))
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2)
            + " " + padded(parts.tm_hour, 2) + ":" + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2)
    }
}
