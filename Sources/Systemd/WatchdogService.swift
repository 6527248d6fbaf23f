public import ServiceLifecycle

/// Pings the systemd watchdog at half of `WATCHDOG_USEC` until graceful shutdown. Without a
/// watchdog it waits for shutdown without pinging, so it never ends the service group early.
public struct WatchdogService: Service {
    private let notifier: Notifier
    private let interval: Duration?

    /// A watchdog service; `interval` defaults to what the service manager asked for.
    public init(notifier: Notifier = Notifier(), interval: Duration? = nil) {
        self.notifier = notifier
        self.interval = interval ?? notifier.watchdogInterval
    }

    /// Pings until graceful shutdown or cancellation.
    public func run() async throws {
        guard let interval else {
            try? await gracefulShutdown()
            return
        }
        let period = interval / 2
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            notifier.watchdog()
            try? await Task.sleep(for: period)
        }
    }
}
