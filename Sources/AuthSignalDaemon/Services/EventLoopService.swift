import NIOCore
import NIOPosix
import ServiceLifecycle
import Systemd

/// Owns the event loops: their heartbeats count in the watchdog's health while the daemon runs,
/// and the loops shut down last, once every connection and the audit log are closed.
struct EventLoopService: Service {
    let group: MultiThreadedEventLoopGroup
    let heartbeats: EventLoopHeartbeats
    let health: WatchdogHealth

    init(group: MultiThreadedEventLoopGroup, health: WatchdogHealth) {
        self.group = group
        self.heartbeats = EventLoopHeartbeats(group: group)
        self.health = health
        health.register("event loops") { [heartbeats] in heartbeats.stall(allowing: $0) }
    }

    func run() async throws {
        try? await gracefulShutdown()
        health.unregister("event loops")
        heartbeats.stop()
        try await group.shutdownGracefully()
    }
}
