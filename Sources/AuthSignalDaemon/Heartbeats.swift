import NIOCore
import Synchronization

/// A tick on every event loop each second, so that the watchdog can tell a loop that stopped
/// running (blocked by a receiver that never returns, say) from a busy one.
final class EventLoopHeartbeats: Sendable {
    private let lastTicks: Mutex<[ContinuousClock.Instant]>
    private let tasks: Mutex<[RepeatedTask]>

    /// Starts ticking on every loop of `group`.
    init(group: any EventLoopGroup) {
        let loops = Array(group.makeIterator())
        lastTicks = Mutex(Array(repeating: .now, count: loops.count))
        tasks = Mutex([])
        let scheduled = loops.enumerated().map { index, loop in
            loop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { [self] _ in
                lastTicks.withLock { $0[index] = .now }
            }
        }
        tasks.withLock { $0 = scheduled }
    }

    /// The first loop that has not ticked for longer than `allowed`, as a reason.
    func stall(allowing allowed: Duration) -> String? {
        let now = ContinuousClock.now
        for (index, tick) in lastTicks.withLock({ $0 }).enumerated() where now - tick > allowed + .seconds(1) {
            return "event loop \(index) has not run for \(now - tick)"
        }
        return nil
    }

    /// Stops ticking (before the loops shut down; later calls do nothing).
    func stop() {
        let running = tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
    }
}
