import AuthSignalCore
import Foundation
import Testing

@testable import AuthSignalAlerts

/// When a group goes out, how long a failed one waits, and what a message says: the parts of the
/// alert service that need no database or program.
@Suite("Alerts: schedule and messages")
struct ScheduleAndMessageTests {
    static let origin = SectionOrigin(file: "test", line: 1)
    static let second: Int64 = 1_000_000

    static func group(oldest: Int64, lastSent: Int64? = nil, failures: Int = 0, retryAt: Int64 = 0) -> Outbox.Group {
        Outbox.Group(
            rule: "r", sink: "s", oldest: oldest, waiting: 1, lastSent: lastSent, failures: failures, retryAt: retryAt)
    }

    @Test("due after GroupWaitSec, no sooner than RepeatIntervalSec after the last message, after the back-off")
    func due() {
        var rule = AlertRule(name: "r", origin: Self.origin)
        rule.groupWaitSeconds = 30
        rule.repeatIntervalSeconds = 300
        let t = 1_000_000 * Self.second
        #expect(GroupSchedule.due(Self.group(oldest: t), rule: rule) == t + 30 * Self.second)
        // The last message long ago: the wait alone counts.
        #expect(
            GroupSchedule.due(Self.group(oldest: t, lastSent: t - 3600 * Self.second), rule: rule) == t + 30
                * Self.second)
        // A message 10 s ago: the next one waits out the repeat interval.
        #expect(
            GroupSchedule.due(Self.group(oldest: t, lastSent: t - 10 * Self.second), rule: rule) == t + 290
                * Self.second)
        #expect(
            GroupSchedule.due(Self.group(oldest: t, retryAt: t + 999 * Self.second), rule: rule) == t + 999
                * Self.second)
    }

    @Test("the back-off doubles from RetrySec and stops at an hour")
    func backOff() {
        var sink = AlertSink(name: "s", origin: Self.origin)
        sink.retrySeconds = 30
        let delays = (1...9).map { GroupSchedule.retryDelay(failures: $0, sink: sink) / Self.second }
        #expect(delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600])
        sink.retrySeconds = 7200
        #expect(GroupSchedule.retryDelay(failures: 3, sink: sink) == 7200 * Self.second)
    }

    static func failure(_ user: String, from source: String) -> AlertEvent {
        var event = AlertEvent(kind: .test, condition: nil, detail: "", at: Date(timeIntervalSince1970: 1_800_000_000))
        event.kind = .record
        event.detail = nil
        event.signal = "failed"
        event.user = user
        event.source = source
        event.service = "sshd"
        return event
    }

    @Test("a digest counts, names the top sources and accounts, and shows the first 20")
    func digest() {
        let events = (0..<25).map {
            Self.failure($0 < 15 ? "root" : "admin", from: $0 < 12 ? "203.0.113.9" : "198.51.100.\($0)")
        }
        let message = AlertMessage(rule: "failures", sink: "mail", host: "web1", events: events, digest: false)
        #expect(message.kind == "digest" && message.count == 25 && message.omitted == 5 && message.alerts.count == 20)
        #expect(message.subject == "[authsignal] web1: 25 alerts of rule failures (25 failed)")
        #expect(message.topSources.first == AlertMessage.Tally(value: "203.0.113.9", count: 12))
        #expect(message.topUsers.map(\.value) == ["root", "admin"])
        #expect(message.text.contains("Top sources: 203.0.113.9 (12), "))
        #expect(
            message.text.contains("  - failed login of root from 203.0.113.9 via sshd at 2027-01-15T08:00:00.000000Z"))
        #expect(message.text.contains("… and 5 more (authsignal alerts --rule failures)."))
        // Digest=always: one alert as a digest too.
        let one = AlertMessage(rule: "failures", sink: "mail", host: "web1", events: [events[0]], digest: true)
        #expect(one.kind == "digest" && one.count == 1)
    }

    @Test("names a sender chose cannot break a subject or a terminal, and a subject stays short")
    func escapedAndShort() {
        let hostile = Self.failure("x\u{1b}[2J\nSubject: y\u{202e}", from: "203.0.113.9")
        let message = AlertMessage(rule: "r", sink: "s", host: "web1", events: [hostile], digest: false)
        #expect(
            !message.subject.contains("\n") && !message.subject.contains("\u{1b}")
                && !message.subject.contains("\u{202e}"))
        #expect(message.subject.contains("x\\x1b[2J\\x0aSubject: y\\u{202e}"))
        #expect(!message.text.contains("\u{1b}"))
        let long = AlertMessage(
            rule: "r", sink: "s", host: "web1", events: [Self.failure(String(repeating: "a", count: 500), from: "::1")],
            digest: false)
        #expect(long.subject.count == 200 && long.subject.hasSuffix("…"))
        // The JSON a program reads carries the account as stored, escaped by JSON alone.
        let json = String(decoding: message.json(), as: UTF8.self)
        #expect(json.hasSuffix("}\n") && json.contains(#""user":"x\u001b[2J\nSubject: y"#))
    }
}

/// `authsignal alerts replay`'s grouping: the service's schedule applied by the records' times.
@Suite("Alerts: replaying a rule over history")
struct ReplayScheduleTests {
    @Test("10,000 failures in a minute make one message per window of GroupWaitSec/RepeatIntervalSec")
    func floodOverAMinute() {
        var rule = AlertRule(name: "failures", origin: SectionOrigin(file: "test", line: 1))
        rule.groupWaitSeconds = 10
        rule.repeatIntervalSeconds = 10
        let start: Int64 = 1_800_000_000_000_000
        let alerts = (0..<10_000).map { (at: start + Int64($0) * 6_000, event: $0) }
        let messages = AlertReplay.schedule(alerts, rule: rule)
        // Sent at 10, 20, … 60 s after the first failure, and the rest at 70 s.
        #expect(messages.map { ($0.0 - start) / 1_000_000 } == [10, 20, 30, 40, 50, 60])
        #expect(messages.reduce(0) { $0 + $1.1.count } == 10_000)
        #expect(messages.first?.1.count == 1667 && messages.first?.1.first == 0)
    }

    @Test("alerts far apart go alone, each after its wait")
    func sparse() {
        var rule = AlertRule(name: "root", origin: SectionOrigin(file: "test", line: 1))
        rule.groupWaitSeconds = 30
        rule.repeatIntervalSeconds = 300
        let second: Int64 = 1_000_000
        let messages = AlertReplay.schedule([(0, "a"), (10 * second, "b"), (3600 * second, "c")], rule: rule)
        #expect(messages.map(\.0) == [30 * second, 3630 * second])
        #expect(messages.map(\.1) == [["a", "b"], ["c"]])
    }
}
