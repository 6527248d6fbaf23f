import AuthSignalClient
import AuthSignalProtocol
import Foundation

/// `authsignal alerts` output: the outbox's alerts as a table or as JSON objects.
package enum AlertListing {
    /// One line per alert (`ID CREATED RULE SINK STATE TRIES WHAT`), and the last error under an
    /// alert that has one; times local.
    package static func table(_ alerts: [Outbox.Listed]) -> String {
        var rows = [["ID", "CREATED", "RULE", "SINK", "STATE", "TRIES", "WHAT"]]
        var errors: [Int: String] = [:]
        for alert in alerts {
            let what = alert.event.map { AlertMessage.sentence($0, withTime: false) } ?? "(unreadable)"
            rows.append([
                String(alert.id), localTime(alert.created), alert.rule, alert.sink, alert.state, String(alert.attempts),
                what,
            ])
            if let error = alert.lastError, alert.state != "sent" { errors[rows.count - 1] = AlertMessage.safe(error) }
        }
        return aligned(rows, notes: errors.mapValues { "    last error: \($0)" })
    }

    /// `rows` in columns two spaces apart, the last one unpadded; `notes` are lines under rows.
    private static func aligned(_ rows: [[String]], notes: [Int: String] = [:]) -> String {
        let columns = (rows.first?.count ?? 1) - 1
        let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = ""
        for (index, row) in rows.enumerated() {
            let padded = row.enumerated().map { column, value in
                column < columns ? value.padding(toLength: widths[column], withPad: " ", startingAt: 0) : value
            }
            text += padded.joined(separator: "  ") + "\n"
            if let note = notes[index] { text += note + "\n" }
        }
        return text
    }

    /// `2026-12-07 09:31:02`, in the local time zone, as the other tables print times.
    private static func localTime(_ microseconds: Int64) -> String {
        RecordPrinter.localTime(Date(timeIntervalSince1970: Double(microseconds) / 1_000_000))
    }

    /// `authsignal alerts replay`'s table: when each message would have gone out (local time),
    /// how many alerts it carries, and the first.
    package static func replayTable(_ sent: [AlertReplay.Sent]) -> String {
        var rows = [["SENT", "ALERTS", "FIRST"]]
        for message in sent {
            let first = message.message.alerts.first.map { AlertMessage.sentence($0, withTime: false) } ?? ""
            rows.append([localTime(message.at), String(message.message.count), first])
        }
        return aligned(rows)
    }

    /// The alert as one JSON object: its row and its facts (`event`, as the sinks get them).
    package static func json(_ alert: Outbox.Listed) -> String {
        var object: JSONObject = [
            "id": .int(alert.id), "rule": .string(alert.rule), "sink": .string(alert.sink),
            "created": .string(RFC3339.format(microseconds: alert.created)), "state": .string(alert.state),
            "attempts": .int(Int64(alert.attempts)),
        ]
        if let error = alert.lastError { object["last_error"] = .string(error) }
        if let finished = alert.finished { object["finished"] = .string(RFC3339.format(microseconds: finished)) }
        if let event = alert.event, let value = try? JSONParser.parse(Array(event.encoded().utf8)) {
            object["event"] = value
        }
        return String(decoding: CanonicalJSON.encode(.object(object)), as: UTF8.self)
    }
}
