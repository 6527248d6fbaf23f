import AuthSignalCore
import AuthSignalProtocol
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
    /// A notification and when it was sent: the kernel stamps each datagram as it is queued
    /// (`SO_TIMESTAMP`), so a test that reads it late on a busy machine still sees the sender's
    /// timing.
    struct Message {
        let text: String
        /// Since the epoch.
        let sent: Duration
    }

    let path: String
    let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let fd = self.fd
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw POSIXError(.EINVAL)
        }
    }

    /// The texts of the messages queued now (see ``receive()``).
    func drain() -> [String] { receive().map(\.text) }

    /// The messages queued now, without waiting (the notifier's sends are complete when they
    /// return, so nothing sent before this call is missed).
    func receive() -> [Message] {
        var messages: [Message] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        // One cmsghdr (length, level, type) and its struct timeval.
        var control = [UInt8](repeating: 0, count: MemoryLayout<cmsghdr>.size + MemoryLayout<timeval>.size)
        while true {
            let count = buffer.withUnsafeMutableBytes { data in
                control.withUnsafeMutableBytes { control in
                    var part = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &part) { part in
                        var header = msghdr()
                        header.msg_iov = part
                        header.msg_iovlen = 1
                        header.msg_control = control.baseAddress
                        header.msg_controllen = control.count
                        return recvmsg(fd, &header, Int32(MSG_DONTWAIT))
                    }
                }
            }
            if count <= 0 { return messages }
            let sent = control.withUnsafeBytes { bytes in
                let stamp = bytes.loadUnaligned(fromByteOffset: MemoryLayout<cmsghdr>.size, as: timeval.self)
                return Duration.seconds(stamp.tv_sec) + .microseconds(stamp.tv_usec)
            }
            messages.append(Message(text: String(decoding: buffer[0..<count], as: UTF8.self), sent: sent))
        }
    }

    /// Messages as they arrive, until `enough` holds for those read so far or `timeout` passes.
    /// Polls without blocking a thread, so a test waiting here never starves the task it watches
    /// of the concurrency pool's few threads.
    func collect(timeout: Duration = .seconds(20), until enough: ([Message]) -> Bool) async throws -> [Message] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var messages: [Message] = []
        while !enough(messages) && clock.now < deadline {
            messages += receive()
            if enough(messages) { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        return messages
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
        #expect(notifier.extendStart(by: .seconds(60), status: "migrating\nstill"))
        let messages = socket.drain()
        #expect(messages.count == 6)
        #expect(messages[0] == "READY=1\nSTATUS=serving on two lines")
        #expect(messages[1] == "STATUS=12 events")
        #expect(messages[2].hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        #expect(UInt64(messages[2].split(separator: "=").last ?? "") ?? 0 > 0)
        #expect(messages[3] == "STOPPING=1")
        #expect(messages[4] == "ERRNO=\(EIO)")
        #expect(messages[5] == "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=migrating still")
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
        #expect(service.period == .milliseconds(100))
        let task = Task { try await service.run() }
        // Only the pings: a daemon another test spawns meanwhile inherits NOTIFY_SOCKET and sends
        // its own READY=1 and STATUS= lines here (its watchdog is off: WATCHDOG_PID is not its).
        let messages = try await socket.collect { $0.count { $0.text == "WATCHDOG=1" } >= 6 }
        let pings = messages.filter { $0.text == "WATCHDOG=1" }
        task.cancel()
        _ = try? await task.value
        // Pinged again and again, and never sooner than the period (a busy machine may only make
        // the gaps longer, so no upper bound is asserted here). The gaps are the sender's: when
        // the test was slow to read a ping, the gap it read after that one looked short.
        #expect(pings.count >= 6, "\(messages.map(\.text))")
        let gaps = zip(pings.dropFirst(), pings).map { $0.sent - $1.sent }
        #expect(gaps.allSatisfy { $0 >= .milliseconds(90) }, "\(gaps)")
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
        let firstMessage = try await socket.collect { !$0.isEmpty }
        // Three more periods of being stuck: the status is not repeated and nothing is pinged.
        try await Task.sleep(for: .milliseconds(300))
        let whileStuck = firstMessage.map(\.text) + socket.drain()
        stuck.store(false, ordering: .relaxed)
        let afterwards = try await socket.collect { $0.count >= 3 }.map(\.text)
        task.cancel()
        _ = try? await task.value
        #expect(!whileStuck.contains("WATCHDOG=1"), "\(whileStuck)")
        #expect(whileStuck.first?.hasPrefix("STATUS=stuck: writer: no transaction finished") == true, "\(whileStuck)")
        #expect(whileStuck.count == 1, "the status is sent once, not at every period: \(whileStuck)")
        #expect(afterwards.count == 3 && afterwards.allSatisfy { $0 == "WATCHDOG=1" }, "\(afterwards)")
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
