package import AuthSignalProtocol
import Synchronization

/// Rate-limits the daemon's reports of refused requests per peer uid, so that a client sending
/// thousands of bad requests a second cannot spend the journal's per-unit rate limit and push the
/// audit entries out: the first ``burst`` refusals of a uid in each ``window`` are reported one
/// by one, the rest are counted and reported as one summary line when the window has passed.
package final class RefusalLog: Sendable {
    /// What to log for one refusal.
    package enum Decision: Equatable, Sendable {
        /// Log this refusal.
        case log
        /// Count it silently.
        case suppress
    }

    /// A uid's refusals over the past window that were not logged, by error code.
    package struct Summary: Equatable, Sendable {
        /// The peer uid.
        package let uid: UInt32
        /// Suppressed refusals by code.
        package let suppressed: [ErrorCode: Int]

        /// A summary of `suppressed` refusals of `uid`.
        package init(uid: UInt32, suppressed: [ErrorCode: Int]) {
            self.uid = uid
            self.suppressed = suppressed
        }

        /// `N refused requests from uid U not logged one by one (forbidden 12, invalid_json 3)`.
        package var message: String {
            let total = suppressed.values.reduce(0, +)
            let codes = suppressed.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
            return "\(total) more refused requests from uid \(uid) were not logged one by one (\(codes))"
        }
    }

    private struct Window {
        var start: ContinuousClock.Instant
        var logged = 0
        var suppressed: [ErrorCode: Int] = [:]
    }

    /// Refusals of one uid reported one by one per window.
    package let burst: Int
    /// The window length.
    package let window: Duration
    /// Peers tracked at most; beyond, the oldest windows are summarised early.
    static let maximumPeers = 4096
    private let windows = Mutex<[UInt32: Window]>([:])

    /// A log reporting `burst` refusals per uid per `window`.
    package init(burst: Int = 5, window: Duration = .seconds(10)) {
        self.burst = burst
        self.window = window
    }

    /// Records a refusal of `uid`'s request with `code` at `now`: whether to log it, and the
    /// summary of that uid's previous window if it had suppressed refusals and is over.
    package func record(
        uid: UInt32, code: ErrorCode, now: ContinuousClock.Instant = .now
    ) -> (Decision, Summary?) {
        windows.withLock { windows in
            var summary: Summary?
            var current = windows[uid] ?? Window(start: now)
            if now - current.start >= window {
                if !current.suppressed.isEmpty { summary = Summary(uid: uid, suppressed: current.suppressed) }
                current = Window(start: now)
            }
            let decision: Decision
            if current.logged < burst {
                current.logged += 1
                decision = .log
            } else {
                current.suppressed[code, default: 0] += 1
                decision = .suppress
            }
            windows[uid] = current
            return (decision, summary)
        }
    }

    /// The summaries of every window that is over (a burst that stopped), forgetting them; also
    /// forgets quiet peers, and summarises the oldest early beyond ``maximumPeers``.
    package func flush(now: ContinuousClock.Instant = .now) -> [Summary] {
        windows.withLock { windows in
            var summaries: [Summary] = []
            for (uid, current) in windows where now - current.start >= window {
                if !current.suppressed.isEmpty { summaries.append(Summary(uid: uid, suppressed: current.suppressed)) }
                windows[uid] = nil
            }
            while windows.count > Self.maximumPeers, let oldest = windows.min(by: { $0.value.start < $1.value.start }) {
                if !oldest.value.suppressed.isEmpty {
                    summaries.append(Summary(uid: oldest.key, suppressed: oldest.value.suppressed))
                }
                windows[oldest.key] = nil
            }
            return summaries.sorted { $0.uid < $1.uid }
        }
    }
}
