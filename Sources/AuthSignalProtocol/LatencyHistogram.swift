/// Durations counted into fixed buckets, as a Prometheus histogram counts them: how long the
/// writer's transactions take (from `BEGIN IMMEDIATE` to the fsync of `COMMIT`), reported by `stats`.
///
/// The daemon counts; `authsignal stats --format prometheus` prints the counts in another
/// process, which is why this is a plain value that crosses the protocol rather than a live
/// metrics registry.
public struct LatencyHistogram: Sendable, Hashable {
    /// The buckets' upper bounds for commit latency, in seconds: a flash fsync takes under a
    /// millisecond, a disk's a few, a stalled one seconds.
    public static let commitBounds: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]

    /// The buckets' upper bounds in seconds, ascending; a last bucket above them all is implied.
    public let bounds: [Double]
    /// Observations per bucket (not cumulative): one count per bound, then the one above all.
    public private(set) var counts: [Int]
    /// The sum of every observation, in seconds.
    public private(set) var sumSeconds: Double

    /// Every observation.
    public var count: Int { counts.reduce(0, +) }

    /// An empty histogram with these bounds.
    public init(bounds: [Double] = Self.commitBounds) {
        self.bounds = bounds
        self.counts = Array(repeating: 0, count: bounds.count + 1)
        self.sumSeconds = 0
    }

    /// A histogram as another process counted it; `nil` unless the bounds ascend and there is
    /// one count more than bounds, none negative.
    public init?(bounds: [Double], counts: [Int], sumSeconds: Double) {
        guard counts.count == bounds.count + 1, counts.allSatisfy({ $0 >= 0 }), sumSeconds >= 0,
            zip(bounds, bounds.dropFirst()).allSatisfy({ $0 < $1 })
        else { return nil }
        self.bounds = bounds
        self.counts = counts
        self.sumSeconds = sumSeconds
    }

    /// Counts one observation.
    public mutating func record(_ duration: Duration) {
        let seconds = duration.inSeconds
        let bucket = bounds.firstIndex { seconds <= $0 } ?? bounds.count
        counts[bucket] += 1
        sumSeconds += seconds
    }

    /// Prometheus's view: for each bound, and then for `nil` (+Inf), the observations at or below it.
    public var cumulative: [(upperBound: Double?, count: Int)] {
        var running = 0
        var result: [(upperBound: Double?, count: Int)] = []
        for (index, count) in counts.enumerated() {
            running += count
            result.append((index < bounds.count ? bounds[index] : nil, running))
        }
        return result
    }
}
