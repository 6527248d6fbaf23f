import AuthSignalProtocol
package import Foundation

/// What one delivery says: one alert, or a digest of many, for one rule and sink. Every sink gets
/// the same facts: `exec` the JSON, `mail` and `apprise` the ``subject`` and ``text``.
///
/// Every value a sender chose (an account, a source, a service) is shown escaped
/// (``DisplaySafe``) in the subject and text, so that no line break reaches a mail header and no
/// escape sequence a terminal.
package struct AlertMessage: Sendable, Hashable, Codable {
    /// How many alerts a digest shows in full; the rest are counted.
    package static let detailLimit = 20
    /// The longest subject, in characters.
    static let subjectLimit = 200

    /// `alert` (one), `digest` (many, or one with `Digest=always`) or `test`.
    package var kind: String
    package var rule: String
    package var sink: String
    /// The host the alerts are about.
    package var host: String
    package var subject: String
    /// The message for a person, several lines.
    package var text: String
    /// How many alerts it covers.
    package var count: Int
    /// The first and last alert's time (RFC 3339).
    package var first: String
    package var last: String
    /// Alerts per signal (`login`, `logout`, `failed`) or health condition.
    package var counts: [String: Int]
    /// The most frequent sources and accounts, most first (at most 5 each).
    package var topSources: [Tally]
    package var topUsers: [Tally]
    /// The alerts, the first ``detailLimit`` of them.
    package var alerts: [AlertEvent]
    /// How many more there were.
    package var omitted: Int

    /// A value and how often it occurred.
    package struct Tally: Sendable, Hashable, Codable {
        package var value: String
        package var count: Int
    }

    enum CodingKeys: String, CodingKey {
        case kind, rule, sink, host, subject, text, count, first, last, counts, alerts, omitted
        case topSources = "top_sources"
        case topUsers = "top_users"
    }

    /// The message for `events` (at least one, in the order they fired) of `rule` to `sink`.
    package init(rule: String, sink: String, host: String, events: [AlertEvent], digest: Bool) {
        precondition(!events.isEmpty, "a message covers at least one alert")
        let isTest = events.allSatisfy { $0.kind == .test }
        kind = isTest ? "test" : (digest || events.count > 1 ? "digest" : "alert")
        self.rule = rule
        self.sink = sink
        self.host = host
        count = events.count
        first = events.first!.time
        last = events.last!.time
        counts = Dictionary(events.map { ($0.signal ?? $0.condition ?? $0.kind.rawValue, 1) }, uniquingKeysWith: +)
        topSources = Self.top(events.compactMap(\.source))
        topUsers = Self.top(events.compactMap(\.user))
        alerts = Array(events.prefix(Self.detailLimit))
        omitted = max(0, events.count - Self.detailLimit)
        let place = Self.safe(host)
        let subject: String
        if kind == "digest" {
            let signals = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) \($0.key)" }
            subject = "[authsignal] \(place): \(count) alerts of rule \(rule) (\(signals.joined(separator: ", ")))"
        } else {
            subject = "[authsignal] \(place): \(Self.sentence(events[0], withTime: false)) (\(rule))"
        }
        // A subject stays one short line, however long the names in it.
        self.subject = subject.count > Self.subjectLimit ? subject.prefix(Self.subjectLimit - 1) + "…" : subject
        text = ""
        text = Self.body(self)
    }

    /// The JSON an `exec` sink reads on its standard input, one line.
    package func json() -> Data {
        var data = (try? AlertEvent.encoder.encode(self)) ?? Data("{}".utf8)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// What happened, in a sentence.
    static func sentence(_ event: AlertEvent, withTime: Bool) -> String {
        let at = withTime ? " at \(event.time)" : ""
        switch event.kind {
        case .health, .test:
            return safe(event.detail ?? event.condition ?? "")
        case .record:
            let user = safe(event.user ?? "(no account)")
            var parts: [String] = []
            switch event.signal {
            case "login": parts.append("\(user) logged in")
            case "logout": parts.append("\(user) logged out")
            default: parts.append("failed login of \(user)")
            }
            if let source = event.source { parts.append("from \(safe(source))") }
            if let service = event.service { parts.append("via \(safe(service))") }
            if let tty = event.tty { parts.append("(tty \(safe(tty)))") }
            if let host = event.host { parts.append("on \(safe(host))") }
            return parts.joined(separator: " ") + at
        }
    }

    private static func body(_ message: AlertMessage) -> String {
        var lines: [String] = []
        let host = safe(message.host)
        if message.kind == "digest" {
            lines.append(
                "Rule \(message.rule) fired \(message.count) times on \(host) from \(message.first) to \(message.last)."
            )
            lines.append("")
            lines.append(
                "By kind: "
                    + message.counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
                    .joined(separator: ", ") + ".")
            if !message.topSources.isEmpty {
                lines.append(
                    "Top sources: "
                        + message.topSources.map { "\(safe($0.value)) (\($0.count))" }.joined(separator: ", ") + ".")
            }
            if !message.topUsers.isEmpty {
                lines.append(
                    "Top accounts: "
                        + message.topUsers.map { "\(safe($0.value)) (\($0.count))" }.joined(separator: ", ") + ".")
            }
            lines.append("")
            lines.append(message.omitted > 0 ? "The first \(message.alerts.count):" : "The alerts:")
            for event in message.alerts {
                lines.append("  - " + sentence(event, withTime: true))
                lines += details(event).map { "      " + $0 }
            }
            if message.omitted > 0 {
                lines.append("  … and \(message.omitted) more (authsignal alerts --rule \(message.rule)).")
            }
        } else {
            let event = message.alerts[0]
            lines.append("Rule \(message.rule) fired on \(host).")
            lines.append("")
            lines.append(sentence(event, withTime: true) + ".")
            lines += details(event)
        }
        lines.append("")
        lines.append("-- ")
        lines.append("authsignal-alerts on \(host): rule \(message.rule), sink \(message.sink) (docs/alerts.md)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The lines that explain a record's alert: its verdicts, the previous login, where it is.
    private static func details(_ event: AlertEvent) -> [String] {
        var lines: [String] = []
        for verdict in event.verdicts ?? [] {
            let scope = verdict.scope.map { " (\($0))" } ?? ""
            lines.append("Verdict \(verdict.code)\(scope): \(safe(verdict.reason))")
        }
        if let previous = event.previousLogin {
            lines.append(
                "Previous login: \(previous.time)" + (previous.source.map { " from \(safe($0))" } ?? "")
                    + (previous.host.map { " on \(safe($0))" } ?? "") + ".")
        } else if event.signal == "login" {
            lines.append("Previous login: none recorded.")
        }
        if let seq = event.seq {
            let sender = event.sender.map { " from sender \(safe($0))" } ?? ""
            let trust = event.trusted == false ? " (an untrusted sender: the event may be forged)" : ""
            let log = event.host.map { "\(safe($0))'s audit log" } ?? "the audit log"
            lines.append("Record \(seq) of \(log)\(sender), uid \(event.senderUID.map(String.init) ?? "?")\(trust).")
        }
        return lines
    }

    private static func top(_ values: [String]) -> [Tally] {
        Dictionary(values.map { ($0, 1) }, uniquingKeysWith: +)
            .sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .prefix(5).map { Tally(value: $0.key, count: $0.value) }
    }

    /// `text` with nothing in it that could act on a terminal or a mail header.
    static func safe(_ text: String) -> String { DisplaySafe.escaped(text) }
}
