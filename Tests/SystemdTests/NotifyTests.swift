import AuthSignalCore
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import Systemd
import TestSupport
import Testing

/// A datagram socket standing in for the service manager's notification socket.
final class NotifySocket: Sendable {
    let path: String
    let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let fd = self.fd
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Messages received so far (each read waits at most 50 ms).
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("Service manager notifications", .serialized)
struct NotifyTests {
    @Test func readyStatusReloadingStoppingAndErrnoReachTheServiceManager() throws {
        let socket = try NotifySocket()
        setenv("NOTIFY_SOCKET", socket.path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let notifier = Notifier()
        #expect(notifier.ready(status: "serving\non two lines"))
        #expect(notifier.status("12 events"))
        #expect(notifier.reloading())
        #expect(notifier.stopping())
        #expect(notifier.failed(errno: EIO))
        let messages = socket.drain()
        #expect(messages.count == 5)
        #expect(messages[0] == "READY=1\nSTATUS=serving on two lines")
        #expect(messages[1] == "STATUS=12 events")
        #expect(messages[2].hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        #expect(UInt64(messages[2].split(separator: "=").last ?? "") ?? 0 > 0)
        #expect(messages[3] == "STOPPING=1")
        #expect(messages[4] == "ERRNO=\(EIO)")
    }

    @Test func withoutANotifySocketNothingIsSent() {
        unsetenv("NOTIFY_SOCKET")
        #expect(Notifier().ready() == false)
        #expect(Notifier().watchdogInterval == nil)
    }

    @Test func theWatchdogIsPingedAtHalfItsInterval() async throws {
        let socket = try NotifySocket()
        setenv("NOTIFY_SOCKET", socket.path, 1)
        setenv("WATCHDOG_USEC", "200000", 1)
        setenv("WATCHDOG_PID", String(getpid()), 1)
        defer {
            unsetenv("NOTIFY_SOCKET")
            unsetenv("WATCHDOG_USEC")
            unsetenv("WATCHDOG_PID")
        }
        let service = WatchdogService()
        #expect(Notifier().watchdogInterval == .milliseconds(200))
        let task = Task { try await service.run() }
        try await Task.sleep(for: .milliseconds(1_050))
        task.cancel()
        _ = try? await task.value
        let pings = socket.drain().filter { $0 == "WATCHDOG=1" }.count
        // Every 100 ms for about a second: 10 or 11 pings, with slack for a loaded machine.
        #expect((8...12).contains(pings), "\(pings) pings")
    }

    @Test func pingsAreWithheldWhileAHealthCheckFails() async throws {
        let socket = try NotifySocket()
        setenv("NOTIFY_SOCKET", socket.path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let stuck = Atomic<Bool>(true)
        let health = WatchdogHealth()
        health.register("writer") { allowed in
            stuck.load(ordering: .relaxed) ? "no transaction finished for longer than \(allowed)" : nil
        }
        let service = WatchdogService(interval: .milliseconds(200), health: health)
        let task = Task { try await service.run() }
        try await Task.sleep(for: .milliseconds(550))
        let whileStuck = socket.drain()
        stuck.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(550))
        task.cancel()
        _ = try? await task.value
        let afterwards = socket.drain()
        #expect(!whileStuck.contains("WATCHDOG=1"), "\(whileStuck)")
        #expect(whileStuck.first?.hasPrefix("STATUS=stuck: writer: no transaction finished") == true, "\(whileStuck)")
        #expect(whileStuck.count == 1, "the status is sent once, not at every period: \(whileStuck)")
        #expect(afterwards.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(afterwards)")
        health.unregister("writer")
        #expect(health.problem(allowing: .seconds(1)) == nil)
    }

    @Test func withoutAWatchdogTheServiceWaitsForShutdownWithoutPinging() async throws {
        let socket = try NotifySocket()
        setenv("NOTIFY_SOCKET", socket.path, 1)
        unsetenv("WATCHDOG_USEC")
        defer { unsetenv("NOTIFY_SOCKET") }
        let finished = Atomic<Bool>(false)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: WatchdogService())], logger: Logger(label: "test")))
        let running = Task {
            try await group.run()
            finished.store(true, ordering: .relaxed)
        }
        try await Task.sleep(for: .milliseconds(300))
        let endedEarly = finished.load(ordering: .relaxed)
        #expect(!endedEarly, "the watchdog service ended the group early")
        await group.triggerGracefulShutdown()
        try await running.value
        let ended = finished.load(ordering: .relaxed)
        #expect(ended)
        #expect(socket.drain().isEmpty)
    }
}
