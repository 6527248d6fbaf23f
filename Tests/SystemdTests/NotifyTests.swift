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

/// A datagram socket standing in for the service manager's notification socket, for a
/// `systemd-probe` child started with `NOTIFY_SOCKET` naming it.
final class NotifySocket: Sendable {
    let path: String
    let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let fd = self.fd
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    /// The messages queued now, without waiting (the child has exited, so all it sent is here).
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

/// What a ``Notifier`` made with ``Notifier/init(delivering:)`` sent, with when: the in-process
/// tests' stand-in for the service manager.
final class NotificationRecorder: Sendable {
    struct Message {
        let text: String
        let sent: ContinuousClock.Instant
    }

    private let messages = Mutex<[Message]>([])

    /// A notifier whose messages this records.
    var notifier: Notifier {
        Notifier { text in
            self.messages.withLock { $0.append(Message(text: text, sent: .now)) }
            return true
        }
    }

    /// The messages recorded since the last call.
    func drain() -> [Message] {
        messages.withLock { messages in
            let taken = messages
            messages = []
            return taken
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
            messages += drain()
            if enough(messages) { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        return messages
    }
}

/// Runs `systemd-probe notify` with only `environment`; its output lines.
private func probeNotify(_ environment: [String]) async throws -> [String] {
    let result = try await run("/usr/bin/env", ["-i"] + environment + [probePath, "notify"])
    #expect(result.status == 0, "\(result.output)")
    return result.output.split(separator: "\n").map(String.init)
}

// No test here changes its own process's environment: see `systemd-probe`.
@Suite("Service manager notifications")
struct NotifyTests {
    @Test func readyStatusReloadingStoppingAndErrnoReachTheServiceManager() async throws {
        let socket = try NotifySocket()
        let output = try await probeNotify(["NOTIFY_SOCKET=\(socket.path)"])
        #expect(output == ["sent=true,true,true,true,true,true", "watchdog=none"])
        let messages = socket.drain()
        #expect(messages.count == 6)
        guard messages.count == 6 else { return }
        #expect(messages[0] == "READY=1\nSTATUS=serving on two lines")
        #expect(messages[1] == "STATUS=12 events")
        #expect(messages[2].hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        #expect(UInt64(messages[2].split(separator: "=").last ?? "") ?? 0 > 0)
        #expect(messages[3] == "STOPPING=1")
        #expect(messages[4] == "ERRNO=\(EIO)")
        #expect(messages[5] == "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=migrating still")
    }

    @Test func withoutANotifySocketNothingIsSent() async throws {
        let output = try await probeNotify([])
        #expect(output == ["sent=false,false,false,false,false,false", "watchdog=none"])
    }

    @Test func theWatchdogIntervalIsReadOnlyByTheProcessItIsFor() async throws {
        let mine = try await probeNotify(["WATCHDOG_USEC=200000"])
        #expect(mine.last == "watchdog=0.2 seconds", "\(mine)")
        // A child that inherited its parent's WATCHDOG_PID leaves the pings to the parent.
        let inherited = try await probeNotify(["WATCHDOG_USEC=200000", "WATCHDOG_PID=\(getpid())"])
        #expect(inherited.last == "watchdog=none", "\(inherited)")
    }

    @Test func theWatchdogIsPingedAtHalfItsInterval() async throws {
        let recorder = NotificationRecorder()
        let service = WatchdogService(notifier: recorder.notifier, interval: .milliseconds(200))
        #expect(service.period == .milliseconds(100))
        let task = Task { try await service.run() }
        let pings = try await recorder.collect { $0.count >= 6 }
        task.cancel()
        _ = try? await task.value
        // Pinged again and again, and never sooner than the period (a busy machine may only make
        // the gaps longer, so no upper bound is asserted here).
        #expect(pings.count >= 6 && pings.allSatisfy { $0.text == "WATCHDOG=1" }, "\(pings.map(\.text))")
        let gaps = zip(pings.dropFirst(), pings).map { $0.sent - $1.sent }
        #expect(gaps.allSatisfy { $0 >= .milliseconds(90) }, "\(gaps)")
    }

    @Test func pingsAreWithheldWhileAHealthCheckFails() async throws {
        let recorder = NotificationRecorder()
        let stuck = Atomic<Bool>(true)
        let health = WatchdogHealth()
        health.register("writer") { allowed in
            stuck.load(ordering: .relaxed) ? "no transaction finished for longer than \(allowed)" : nil
        }
        let service = WatchdogService(notifier: recorder.notifier, interval: .milliseconds(200), health: health)
        let task = Task { try await service.run() }
        let firstMessage = try await recorder.collect { !$0.isEmpty }
        // Three more periods of being stuck: the status is not repeated and nothing is pinged.
        try await Task.sleep(for: .milliseconds(300))
        let whileStuck = (firstMessage + recorder.drain()).map(\.text)
        stuck.store(false, ordering: .relaxed)
        let afterwards = try await recorder.collect { $0.count >= 3 }.map(\.text)
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
        let recorder = NotificationRecorder()
        let finished = Atomic<Bool>(false)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: WatchdogService(notifier: recorder.notifier, interval: nil))],
                logger: Logger(label: "test")))
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
        #expect(recorder.drain().isEmpty)
    }
}
