package import Logging
import ServiceLifecycle
import Synchronization

/// What must keep making progress for the watchdog to be pinged: a process that is scheduled but
/// stuck (a hung event loop, a writer that never finishes a transaction) is not healthy, and
/// systemd should restart it.
package final class WatchdogHealth: Sendable {
    /// A check: given the longest stall allowed, a reason when exceeded, else `nil`.
    package typealias Check = @Sendable (_ allowed: Duration) -> String?

    private let checks = Mutex<[(name: String, check: Check)]>([])

    /// An empty set of checks: healthy.
    package init() {}

    /// Adds (or replaces) the check called `name`.
    package func register(_ name: String, _ check: @escaping Check) {
        checks.withLock { checks in
            checks.removeAll { $0.name == name }
            checks.append((name, check))
        }
    }

    /// Removes the check called `name`.
    package func unregister(_ name: String) {
        checks.withLock { checks in checks.removeAll { $0.name == name } }
    }

    /// The first failing check, as `name: reason`, or `nil` when all pass.
    package func problem(allowing allowed: Duration) -> String? {
        for (name, check) in checks.withLock({ $0 }) {
            if let reason = check(allowed) { return "\(name): \(reason)" }
        }
        return nil
    }
}

/// Pings the systemd watchdog at half of `WATCHDOG_USEC` until graceful shutdown, as long as
/// `health` passes with stalls of up to half the interval allowed; while it fails, pings are
/// withheld (and the reason logged and shown as the unit's status), so systemd restarts a daemon
/// that is stuck, not only one that stopped. Without a watchdog it waits for shutdown without
/// pinging, so it never ends the service group early.
package struct WatchdogService: Service {
    private let notifier: Notifier
    private let interval: Duration?
    private let health: WatchdogHealth
    private let logger: Logger

    /// A watchdog service; `interval` defaults to what the service manager asked for.
    package init(
        notifier: Notifier = Notifier(), interval: Duration? = nil, health: WatchdogHealth = WatchdogHealth(),
        logger: Logger = Logger(label: "authsignald.watchdog")
    ) {
        self.notifier = notifier
        self.interval = interval ?? notifier.watchdogInterval
        self.health = health
        self.logger = logger
    }

    /// How often it pings: half the interval, so one late ping still arrives in time; `nil`
    /// without a watchdog.
    package var period: Duration? { interval.map { $0 / 2 } }

    /// Pings until graceful shutdown or cancellation.
    package func run() async throws {
        guard let period else {
            try? await gracefulShutdown()
            return
        }
        var withheld = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let problem = health.problem(allowing: period) {
                if !withheld {
                    logger.critical("watchdog: withholding pings, systemd will restart the daemon: \(problem)")
                    notifier.status("stuck: \(problem)")
                }
                withheld = true
            } else {
                if withheld { logger.notice("watchdog: healthy again, pinging") }
                withheld = false
                notifier.watchdog()
            }
            // Woken by graceful shutdown too: an idle daemon stops at once, not after up to half
            // the watchdog interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }
}
