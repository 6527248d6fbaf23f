import NIOCore
import NIOPosix
import ServiceLifecycle
import Systemd

/// Owns the event loops: their heartbeats count in the watchdog's health while the daemon runs,
/// and the loops shut down last, once every connection and the audit log are closed.
struct EventLoopService: Service {
    let group: MultiThreadedEventLoopGroup
    let health: WatchdogHealth

    func run() async throws {
        let heartbeats = EventLoopHeartbeats(group: group)
        health.register("event loops") { heartbeats.stall(allowing: $0) }
        try? await gracefulShutdown()
        health.unregister("event loops")
        heartbeats.stop()
        try await group.shutdownGracefully()
    }
}
