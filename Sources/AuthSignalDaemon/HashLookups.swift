import Synchronization

/// How often each uid may look up keyed hashes (the `hash` op): at most ``limit`` in any
/// ``window``. A look-up tests one guess against the stored hashes, so an allowed caller still
/// cannot turn the daemon into a fast guessing oracle.
package final class HashLookups: Sendable {
    /// Look-ups per uid per window.
    package let limit: Int
    /// The sliding window.
    package let window: Duration
    private let recent = Mutex<[UInt32: [ContinuousClock.Instant]]>([:])

    /// At most `limit` look-ups per uid in any `window` (20 a minute by default).
    package init(limit: Int = 20, window: Duration = .seconds(60)) {
        self.limit = limit
        self.window = window
    }

    /// Counts a look-up by `uid` now, or refuses it: `nil` when allowed, else how long until the
    /// oldest look-up in the window leaves it.
    package func admit(uid: UInt32, now: ContinuousClock.Instant = .now) -> Duration? {
        recent.withLock { recent in
            var times = recent[uid, default: []].filter { now - $0 < window }
            defer { recent[uid] = times.isEmpty ? nil : times }
            guard times.count < limit else { return window - (now - times[0]) }
            times.append(now)
            return nil
        }
    }
}
