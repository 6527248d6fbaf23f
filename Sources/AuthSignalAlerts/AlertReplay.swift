package import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

/// `authsignal alerts replay`: what a rule would have sent over stored history, its GroupWaitSec,
/// RepeatIntervalSec and Digest applied as the service applies them, by the records' own times.
/// Reads the audit log; sends and stores nothing.
package enum AlertReplay {
    /// One message the rule would have sent: when, and what.
    package struct Sent: Sendable {
        /// When it would have gone out (µs).
        package var at: Int64
        package var message: AlertMessage
    }

    /// The messages `rule` would have sent to its first sink for the records of `log` received
    /// in `[since, until)`.
    package static func messages(
        rule: AlertRule, log: ReadOnlyAuditLog, trusted: TrustedSenders, host: String, since: Date?, until: Date?
    ) async throws -> [Sent] {
        let matcher = RuleMatcher(rules: [rule], trusted: trusted)
        var alerts: [(at: Int64, event: AlertEvent)] = []
        for try await record in log.records(matching: RecordFilter(since: since, until: until), pageSize: 1000) {
            for firing in try await matcher.firings([record], in: log) {
                alerts.append((Microseconds.from(firing.record.received), firing.event))
            }
        }
        return schedule(alerts, rule: rule).map { at, events in
            Sent(
                at: at,
                message: AlertMessage(
                    rule: rule.name, sink: rule.sinks.first ?? "", host: host, events: events,
                    digest: rule.digest == .always))
        }
    }

    /// Groups alerts (in time order) into the messages the service would send: each when
    /// ``GroupSchedule`` makes its group due, holding every alert that came before then.
    static func schedule<Event>(_ alerts: [(at: Int64, event: Event)], rule: AlertRule) -> [(Int64, [Event])] {
        var messages: [(Int64, [Event])] = []
        var waiting: [Event] = []
        var oldest: Int64 = 0
        var lastSent: Int64?
        func due() -> Int64 {
            GroupSchedule.due(
                Outbox.Group(
                    rule: rule.name, sink: "", oldest: oldest, waiting: waiting.count, lastSent: lastSent, failures: 0,
                    retryAt: 0),
                rule: rule)
        }
        for alert in alerts {
            if !waiting.isEmpty, due() <= alert.at {
                let at = due()
                messages.append((at, waiting))
                lastSent = at
                waiting = []
            }
            if waiting.isEmpty { oldest = alert.at }
            waiting.append(alert.event)
        }
        if !waiting.isEmpty { messages.append((due(), waiting)) }
        return messages
    }
}
