package import AuthSignalCore

/// When a rule's waiting alerts for one sink go out (docs/alerts.md, "How often"): not before
/// the oldest has waited `GroupWaitSec` (so that alerts close together go as one message), not
/// sooner than `RepeatIntervalSec` after the group's last message (so that a flood makes one
/// message per interval), and not before the back-off after a failed delivery has passed.
package enum GroupSchedule {
    /// When `group` (of `rule`) is due, in µs.
    package static func due(_ group: Outbox.Group, rule: AlertRule) -> Int64 {
        let afterWait = group.oldest + Int64(rule.groupWaitSeconds) * 1_000_000
        let afterLast = group.lastSent.map { $0 + Int64(rule.repeatIntervalSeconds) * 1_000_000 } ?? .min
        return max(afterWait, afterLast, group.retryAt)
    }

    /// The longest back-off, in seconds.
    package static let maximumRetrySeconds = 3600

    /// How long to wait after the `failures`th failed delivery in a row to `sink`, in µs: its
    /// `RetrySec`, doubled for each failure before, at most an hour (or `RetrySec`, if longer).
    package static func retryDelay(failures: Int, sink: AlertSink) -> Int64 {
        let doublings = min(max(failures - 1, 0), 20)
        let seconds = min(sink.retrySeconds << doublings, max(maximumRetrySeconds, sink.retrySeconds))
        return Int64(seconds) * 1_000_000
    }
}
