import AuthSignalClient
import AuthSignalProtocol
import Foundation
import Testing

@Suite("Printing records")
struct RecordPrinterTests {
    /// A login record received at 2026-11-25T10:30:00Z.
    static func record(
        seq: Int64, sender: String, user: String? = nil, request: JSONObject? = nil, host: String? = nil
    ) -> WireRecord {
        WireRecord(
            seq: seq, received: RFC3339.parse("2026-11-25T10:30:00Z")!, time: nil, signal: .userLoggedIn,
            sender: sender, user: user, request: request, credentials: nil,
            peer: PeerCredentials(uid: 1000, gid: 1000, pid: 42), hash: Data(repeating: 0xAB, count: 32), host: host)
    }

    @Test func timeExpressionsWithAFixedClock() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let now = try #require(RFC3339.parse("2026-11-25T10:30:00Z"))  // a Wednesday
        func parse(_ text: String) -> String? {
            TimeExpression.parse(text, now: now, calendar: calendar).map(RFC3339.format)
        }
        #expect(parse("today") == "2026-11-25T00:00:00.000000Z")
        #expect(parse("yesterday") == "2026-11-24T00:00:00.000000Z")
        #expect(parse("recent") == "2026-11-25T10:20:00.000000Z")
        #expect(parse("this-week") == "2026-11-23T00:00:00.000000Z")
        #expect(parse("-1h") == "2026-11-25T09:30:00.000000Z")
        #expect(parse("-30min") == "2026-11-25T10:00:00.000000Z")
        #expect(parse("2 hours ago") == "2026-11-25T08:30:00.000000Z")
        #expect(parse("3 days ago") == "2026-11-22T10:30:00.000000Z")
        #expect(parse("2026-11-01T12:00:00+02:00") == "2026-11-01T10:00:00.000000Z")
        #expect(parse("soon") == nil)
        #expect(parse("-1 fortnight") == nil)
    }

    /// Tables print times in the proleptic Gregorian calendar, as RFC 3339 does: Foundation's
    /// formatter printed 0001-01-01 as 0001-01-03 (issue 24, item 8). Midday UTC is the same date
    /// in every zone.
    @Test func theFirstYearPrintsAsItIs() throws {
        let noon = try #require(RFC3339.parse("0001-01-01T12:00:00Z"))
        #expect(RecordPrinter.localTime(noon).hasPrefix("0001-01-01 "), "\(RecordPrinter.localTime(noon))")
        let leap = try #require(RFC3339.parse("1600-02-29T12:00:00Z"))
        #expect(RecordPrinter.localTime(leap).hasPrefix("1600-02-29 "))
    }

    @Test func csvQuotingAndTerminalEscaping() {
        #expect(DisplaySafe.escaped("a\u{1B}[31mb\u{7F}\u{9B}c\\") == "a\\x1b[31mb\\x7f\\x9bc\\\\")
        var lines: [String] = []
        let printer = RecordPrinter(format: .csv, colour: false) { lines.append($0) }
        printer.add(
            Self.record(
                seq: 7, sender: "=cmd|' /C calc'!A0", user: "line\nbreak", request: ["remote_addr": .string("a,b")]))
        #expect(
            lines[1].hasPrefix(
                "7,2026-11-25T10:30:00.000000Z,,user_logged_in,'=cmd|' /C calc'!A0,\"line\nbreak\",\"a,b\","))
        // A tab-prefixed formula is defused too; bidi overrides are escaped for a terminal.
        printer.add(Self.record(seq: 9, sender: "\t=1+1"))
        #expect(lines[2].hasPrefix("9,2026-11-25T10:30:00.000000Z,,user_logged_in,'\t=1+1,"), "\(lines[2])")
        #expect(DisplaySafe.escaped("evil\u{202E}gpj.exe") == "evil\\u{202e}gpj.exe")
        // On a terminal, CSV values are escaped as in the table: no escape sequence, C1 control
        // or line break reaches it (a file keeps the exact values, above).
        var shown: [String] = []
        let onTerminal = RecordPrinter(format: .csv, colour: false, terminal: true) { shown.append($0) }
        onTerminal.add(Self.record(seq: 8, sender: "s\u{9B}31m", user: "line\nbreak\u{1B}[2J\u{202E}"))
        #expect(
            shown[1].hasPrefix(
                #"8,2026-11-25T10:30:00.000000Z,,user_logged_in,s\x9b31m,line\x0abreak\x1b[2J\u{202e},"#),
            "\(shown[1])")
        #expect(!shown[1].dropLast().contains { $0.isNewline })
    }
}
