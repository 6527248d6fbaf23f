import AuthSignalProtocol
import Foundation

/// `authsignal alerts` output: the outbox's alerts as a table or as JSON objects.
package enum AlertListing {
    /// One line per alert (`ID CREATED RULE SINK STATE TRIES WHAT`), and the last error under an
    /// alert that has one; times in UTC.
    package static func table(_ alerts: [Outbox.Listed]) -> String {
        var rows = [["ID", "CREATED", "RULE", "SINK", "STATE", "TRIES", "WHAT"]]
        var errors: [Int: String] = [:]
        for alert in alerts {
            let what = alert.event.map { AlertMessage.sentence($0, withTime: false) } ?? "(unreadable)"
            rows.append([
                String(alert.id), time(alert.created), alert.rule, alert.sink, alert.state, String(alert.attempts),
                what,
            ])
            if let error = alert.lastError, alert.state != "sent" { errors[rows.count - 1] = AlertMessage.safe(error) }
        }
        let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = ""
        for (index, row) in rows.enumerated() {
            let padded = row.enumerated().map { column, value in
                column < 6 ? value.padding(toLength: widths[column], withPad: " ", startingAt: 0) : value
            }
            text += padded.joined(separator: "  ") + "\n"
            if let error = errors[index] { text += "    last error: \(error)\n" }
        }
        return text
    }

    /// The alert as one JSON object: its row and its facts (`event`, as the sinks get them).
    package static func json(_ alert: Outbox.Listed) -> String {
        var object: [String: JSONValue] = [
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

    private static func time(_ microseconds: Int64) -> String {
        String(RFC3339.format(microseconds: microseconds).prefix(19)).replacingOccurrences(of: "T", with: " ")
    }
}
