package import AuthSignalProtocol
import Synchronization

/// What the daemon has done since it started, counted where it happens and read by `stats` and
/// the status line: one instance per daemon, shared by the listener, the connections, the spool
/// and the reporters.
package final class DaemonCounters: Sendable {
    private let started = ContinuousClock.now
    private let open = Atomic<Int>(0)
    private let refused = Mutex<[ErrorCode: Int]>([:])
    /// What the spool drainer has done.
    package let spool = SpoolStatus()

    /// Nothing counted yet; the uptime starts now.
    package init() {}

    /// How long the daemon has been up.
    package var uptime: Duration { ContinuousClock.now - started }

    /// Open connections now.
    package var connections: Int { open.load(ordering: .relaxed) }

    /// Counts a connection opened; returns how many are open with it.
    func connectionOpened() -> Int { open.add(1, ordering: .relaxed).newValue }

    /// Counts a connection closed.
    func connectionClosed() { open.subtract(1, ordering: .relaxed) }

    /// Requests answered with an error, by code.
    package var refusals: [ErrorCode: Int] { refused.withLock { $0 } }

    /// Counts a request answered with `code`.
    func countRefusal(_ code: ErrorCode) {
        refused.withLock { $0[code, default: 0] += 1 }
    }
}

/// What the spool drainer has done, for `stats`.
package final class SpoolStatus: Sendable {
    /// The counts.
    package struct Counters: Sendable, Hashable {
        /// The directory drained, once it is usable.
        package var directory: String?
        /// Events stored from the spool (including repeats of events already stored).
        package var stored = 0
        /// Files moved aside or deleted as untrustworthy.
        package var refused = 0
        /// Event files waiting after the last pass.
        package var pending = 0
    }

    private let state = Mutex(Counters())

    /// Nothing drained yet, no directory in use.
    package init() {}

    /// The counts now.
    package var counters: Counters { state.withLock { $0 } }

    func enable(_ directory: String) { state.withLock { $0.directory = directory } }
    func stored() { state.withLock { $0.stored += 1 } }
    /// Counts a refusal; returns the count so far.
    func refused() -> Int {
        state.withLock {
            $0.refused += 1
            return $0.refused
        }
    }
    func update(pending: Int) { state.withLock { $0.pending = pending } }
}
