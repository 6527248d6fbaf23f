package import AuthSignalProtocol
import Foundation

/// Prints sessions (`last`) or accounts (`lastlog`) in an ``OutputFormat``: a table in local time
/// with client-supplied values escaped, JSON as the daemon sent it, or RFC 4180 CSV.
package final class ActivityPrinter<Item: WireItem> {
    /// How one kind of item is shown.
    package struct Layout: Sendable {
        let header: [String]
        let csvHeader: [String]
        let cells: @Sendable (Item) -> [String]
        let csv: @Sendable (Item) -> [String]
        let object: @Sendable (Item) -> JSONObject
        let hashed: @Sendable (Item) -> Bool
        /// Lines under a table, each shown when an item needed it.
        let notes: [(applies: @Sendable (Item) -> Bool, text: String)]
    }

    private let format: OutputFormat
    private let layout: Layout
    private let terminal: Bool
    private let write: (String) -> Void
    private var rows: [[String]] = []
    private var notes: Set<Int> = []
    private var showedHash = false
    private var count = 0

    /// A printer; `terminal` escapes CSV values as the table does.
    package init(format: OutputFormat, layout: Layout, terminal: Bool, write: @escaping (String) -> Void) {
        self.format = format
        self.layout = layout
        self.terminal = terminal
        self.write = write
        switch format {
        case .csv: write(layout.csvHeader.joined(separator: ",") + "\n")
        case .json: write("[")
        default: break
        }
    }

    /// Prints (or, for a table, collects) one item.
    package func add(_ item: Item) {
        count += 1
        switch format {
        case .jsonl: write(Self.json(layout.object(item)) + "\n")
        case .json: write((count > 1 ? ",\n" : "\n") + Self.json(layout.object(item)))
        case .csv:
            write(
                layout.csv(item).map { RecordPrinter.csvField($0, forTerminal: terminal) }.joined(separator: ",") + "\n"
            )
        case .table:
            rows.append(layout.cells(item).map(DisplaySafe.escaped))
            if layout.hashed(item) { showedHash = true }
            for (index, note) in layout.notes.enumerated() where note.applies(item) { notes.insert(index) }
        }
    }

    /// Prints what was collected.
    package func finish() {
        switch format {
        case .json: write(count > 0 ? "\n]\n" : "]\n")
        case .table:
            guard !rows.isEmpty else { return }
            for line in RecordPrinter.aligned(header: layout.header, rows: rows) { write(line + "\n") }
            for index in notes.sorted() { write(layout.notes[index].text + "\n") }
            if showedHash { write(HashedName.legend + "\n") }
        default: break
        }
    }

    private static func json(_ object: JSONObject) -> String {
        String(decoding: CanonicalJSON.encode(object), as: UTF8.self)
    }
}

extension ActivityPrinter.Layout {
    /// The same with each item's host, for items read from journals of many hosts: a HOST column
    /// first in tables and a final `host` column in CSV, as `query` shows records.
    package var withHost: Self {
        let (cells, csv) = (self.cells, self.csv)
        return Self(
            header: ["HOST"] + header, csvHeader: csvHeader + ["host"], cells: { [$0.host ?? "-"] + cells($0) },
            csv: { csv($0) + [$0.host ?? ""] }, object: object, hashed: hashed, notes: notes)
    }
}

extension ActivityPrinter.Layout where Item == WireSession {
    /// `last`: one session a row.
    package static var sessions: Self {
        Self(
            header: ["USER", "FROM", "SERVICE", "TTY", "LOGIN", "LOGOUT", "DURATION"],
            csvHeader: [
                "login_seq", "logout_seq", "user", "from", "service", "tty", "sender", "start", "end", "ended_by",
                "duration_seconds", "status", "pairing",
            ],
            cells: { session in
                let end: String =
                    switch session.status {
                    case .ended: session.end.map(RecordPrinter.localTime) ?? "-"
                    case .stillLoggedIn: "still logged in"
                    case .gone: "gone" + (session.endedBy.map { " (by " + RecordPrinter.localTime($0) + ")" } ?? "")
                    }
                return [
                    HashedName.abbreviated(session.user ?? "-"), session.from ?? "-",
                    session.service ?? session.sender, session.tty ?? "-", RecordPrinter.localTime(session.start),
                    end + (session.pairing == .fallback ? " ~" : ""),
                    session.duration.map(Elapsed.text) ?? "-",
                ]
            },
            csv: { session in
                [
                    String(session.loginSeq), session.logoutSeq.map(String.init) ?? "", session.user ?? "",
                    session.from ?? "", session.service ?? "", session.tty ?? "", session.sender,
                    RFC3339.format(session.start), session.end.map(RFC3339.format) ?? "",
                    session.endedBy.map(RFC3339.format) ?? "", session.duration.map { String(Int($0)) } ?? "",
                    session.status.rawValue, session.pairing.rawValue,
                ]
            },
            object: { $0.object }, hashed: { $0.user.map(HashedName.isHashed) ?? false },
            notes: [
                (
                    { $0.pairing == .fallback },
                    "~: no pairing key; a logout ends the latest open login of the same sender, user, tty "
                        + "and address (docs/sessions.md)"
                ),
                (
                    { $0.status == .gone },
                    "gone: no logout before the host rebooted; \"by\" is the latest it can have lasted until"
                ),
            ])
    }
}

extension ActivityPrinter.Layout where Item == WireSession {
    /// `who`: one open session a row, as who(1) shows it (its JSON and CSV are `last`'s).
    package static var loggedIn: Self {
        let sessions = Self.sessions
        return Self(
            header: ["USER", "TTY", "FROM", "LOGIN@", "SERVICE"], csvHeader: sessions.csvHeader,
            cells: { session in
                [
                    HashedName.abbreviated(session.user ?? "-") + (session.pairing == .fallback ? " ~" : ""),
                    session.tty ?? "-", session.from ?? "-", RecordPrinter.localTime(session.start),
                    session.service ?? session.sender,
                ]
            },
            csv: sessions.csv, object: sessions.object, hashed: sessions.hashed,
            notes: Array(sessions.notes.prefix(1)))
    }
}

extension ActivityPrinter.Layout where Item == WireAccount {
    /// `lastlog`: one account a row.
    package static var accounts: Self {
        Self(
            header: ["USER", "LAST LOGIN", "FROM", "VIA", "FAILED SINCE", "LAST FAILURE", "FROM"],
            csvHeader: [
                "user", "last_login", "last_login_from", "last_login_service", "last_login_seq",
                "failures_since_login", "last_failure", "last_failure_from", "last_failure_seq", "failures",
            ],
            cells: { account in
                [
                    HashedName.abbreviated(account.user),
                    account.lastLogin.map { RecordPrinter.localTime($0.time) } ?? "never logged in",
                    account.lastLogin?.from ?? "-", account.lastLogin?.service ?? "-",
                    String(account.failuresSinceLogin),
                    account.lastFailure.map { RecordPrinter.localTime($0.time) } ?? "-",
                    account.lastFailure?.from ?? "-",
                ]
            },
            csv: { account in
                [
                    account.user, account.lastLogin.map { RFC3339.format($0.time) } ?? "",
                    account.lastLogin?.from ?? "", account.lastLogin?.service ?? "",
                    account.lastLogin.map { String($0.seq) } ?? "", String(account.failuresSinceLogin),
                    account.lastFailure.map { RFC3339.format($0.time) } ?? "", account.lastFailure?.from ?? "",
                    account.lastFailure.map { String($0.seq) } ?? "", String(account.failures),
                ]
            },
            object: { $0.object }, hashed: { HashedName.isHashed($0.user) }, notes: [])
    }
}

/// How long a session lasted, for tables.
enum Elapsed {
    /// `0:43:19`, or `2d 03:14:00` from a day on; a negative span (clocks that disagree) as `-`.
    static func text(_ seconds: TimeInterval) -> String {
        guard seconds >= 0 else { return "-" }
        let total = Int(seconds)
        let (days, rest) = total.quotientAndRemainder(dividingBy: 86400)
        let clock = String(format: "%02d:%02d:%02d", rest / 3600, rest % 3600 / 60, rest % 60)
        if days > 0 { return "\(days)d \(clock)" }
        return clock.hasPrefix("0") ? String(clock.dropFirst()) : clock
    }
}
