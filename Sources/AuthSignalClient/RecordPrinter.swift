public import AuthSignalCore
import Foundation

/// How records are printed.
public enum OutputFormat: String, CaseIterable, Sendable {
    /// Aligned columns, local time, colour on a terminal.
    case table
    /// One JSON array.
    case json
    /// One JSON object per line, as the daemon sends them.
    case jsonl
    /// RFC 4180 CSV with a header.
    case csv
}

/// Prints records from the daemon (or the database) in an ``OutputFormat``. Every field a client
/// supplied is escaped for the terminal: a hostile user name cannot inject escape sequences.
public final class RecordPrinter {
    private let format: OutputFormat
    private let colour: Bool
    private let write: (String) -> Void
    private var rows: [[String]] = []
    private var signals: [String] = []
    private var count = 0
    private let streaming: Bool
    private let hosts: Bool
    private let terminal: Bool

    /// A printer; `streaming` prints table rows at once with fixed widths (for `follow`); `hosts`
    /// adds a host column to tables and CSV (records read from many hosts' journals); `terminal`
    /// escapes CSV values as the table does.
    public init(
        format: OutputFormat, colour: Bool, streaming: Bool = false, hosts: Bool = false, terminal: Bool = false,
        write: @escaping (String) -> Void
    ) {
        self.format = format
        self.terminal = terminal
        self.colour = colour
        self.streaming = streaming
        self.hosts = hosts
        self.write = write
        switch format {
        case .csv:
            write(
                "seq,received,time,signal,sender,user,remote_addr,peer_uid,peer_gid,peer_pid,request,credentials,hash"
                    + (hosts ? ",host\n" : "\n"))
        case .json: if streaming { break } else { write("[") }
        default: break
        }
        if format == .table && streaming { write(Self.line(header, widths: fixedWidths) + "\n") }
    }

    private var header: [String] {
        (hosts ? ["HOST"] : []) + ["SEQ", "RECEIVED", "SIGNAL", "USER", "REMOTE ADDR", "SENDER"]
    }
    private var fixedWidths: [Int] { (hosts ? [16] : []) + [8, 19, 7, 24, 18, 12] }

    /// Prints (or, for a table, collects) one record.
    public func add(_ record: JSONObject) {
        count += 1
        switch format {
        case .jsonl:
            write(String(decoding: CanonicalJSON.encode(record), as: UTF8.self) + "\n")
        case .json:
            let text = String(decoding: CanonicalJSON.encode(record), as: UTF8.self)
            if streaming { write(text + "\n") } else { write((count > 1 ? ",\n" : "\n") + text) }
        case .csv:
            let host = hosts ? "," + Self.csvField(record["host"]?.stringValue ?? "", forTerminal: terminal) : ""
            write(Self.csvRow(record, forTerminal: terminal) + host + "\n")
        case .table:
            let row = (hosts ? [DisplaySafe.escaped(record["host"]?.stringValue ?? "-")] : []) + Self.tableRow(record)
            let signal = record["signal"]?.stringValue ?? ""
            if streaming {
                write(paint(Self.line(row, widths: fixedWidths), signal: signal) + "\n")
            } else {
                rows.append(row)
                signals.append(signal)
            }
        }
    }

    /// Prints what was collected.
    public func finish() {
        switch format {
        case .json where !streaming: write(count > 0 ? "\n]\n" : "]\n")
        case .table where !streaming:
            guard !rows.isEmpty else { return }
            var widths = header.map(\.count)
            for row in rows {
                for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
            }
            write(Self.line(header, widths: widths) + "\n")
            for (row, signal) in zip(rows, signals) {
                write(paint(Self.line(row, widths: widths), signal: signal) + "\n")
            }
        default: break
        }
    }

    private func paint(_ text: String, signal: String) -> String {
        guard colour else { return text }
        switch signal {
        case "user_login_failed": return "\u{1B}[31m" + text + "\u{1B}[0m"
        case "user_logged_in": return "\u{1B}[32m" + text + "\u{1B}[0m"
        default: return text
        }
    }

    private static func line(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { cell, width in
            cell.count >= width ? cell : cell + String(repeating: " ", count: width - cell.count)
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }

    static func tableRow(_ record: JSONObject) -> [String] {
        let signal = record["signal"]?.stringValue.flatMap(AuthSignal.init(rawValue:))?.shortName ?? "?"
        return [
            record["seq"].map(scalarText) ?? "", localTime(record["received"]?.stringValue), signal,
            DisplaySafe.escaped(record["user"]?.stringValue ?? "-"),
            DisplaySafe.escaped(record["request"]?["remote_addr"]?.stringValue ?? "-"),
            DisplaySafe.escaped(record["sender"]?.stringValue ?? ""),
        ]
    }

    static func csvRow(_ record: JSONObject, forTerminal: Bool = false) -> String {
        let peer = record["peer"]
        let fields: [String] = [
            record["seq"].map(scalarText) ?? "", record["received"]?.stringValue ?? "",
            record["time"]?.stringValue ?? "",
            record["signal"]?.stringValue ?? "", record["sender"]?.stringValue ?? "", record["user"]?.stringValue ?? "",
            record["request"]?["remote_addr"]?.stringValue ?? "", peer?["uid"].map(scalarText) ?? "",
            peer?["gid"].map(scalarText) ?? "", peer?["pid"].map(scalarText) ?? "", json(record["request"]),
            json(record["credentials"]), record["hash"]?.stringValue ?? "",
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

    private static func json(_ value: JSONValue?) -> String {
        guard let value, value != .null else { return "" }
        return String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
    }

    private static func scalarText(_ value: JSONValue) -> String {
        switch value {
        case .int(let number): String(number)
        case .string(let text): text
        default: String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
        }
    }

    private static let localFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = .current
        return formatter
    }()

    static func localTime(_ text: String?) -> String {
        guard let text, let date = RFC3339.parse(text) else { return "" }
        return localFormatter.string(from: date)
    }
}
