import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

/// A journald that takes nothing: a datagram socket nobody reads, its queue filled, mounted over
/// journald's socket in a private mount namespace: what a stopped or frozen journald leaves.
final class StalledJournal {
    let directory: TemporaryDirectory
    let path: String
    private let socket: Int32

    /// Needs root (a mount namespace); see ``require()``.
    init() throws {
        directory = try TemporaryDirectory()
        path = directory.path + "/journal.sock"
        socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let socket = socket
        guard withUnixAddress(path, { bind(socket, $0, $1) }) == 0 else { throw DaemonTestError("cannot bind \(path)") }
        // Fill its queue, as the entries of a busy host do while journald is stopped.
        let filler = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(filler) }
        let datagram = [UInt8]("MESSAGE=filler\n".utf8)
        var sent = 0
        while sent < 100_000 {
            let result = withUnixAddress(path) { sendto(filler, datagram, datagram.count, 0, $0, $1) } ?? -1
            guard result > 0 else { break }
            sent += 1
        }
        guard errno == EAGAIN else { throw DaemonTestError("filling \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(socket) }

    /// A stalled journal, or the test cancelled where one cannot be made.
    static func require() throws -> StalledJournal {
        guard isRoot else { try Test.cancel("needs root for a private mount namespace") }
        guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
            try Test.cancel("no journald socket; scripts/test starts a private journald")
        }
        return try StalledJournal()
    }

    /// A command prefix that runs a program with this socket in place of journald's.
    var wrapper: [String] {
        [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            "mount --bind '\(path)' /run/systemd/journal/socket && exec \"$0\" \"$@\"",
        ]
    }
}

extension SpawnedTests {
    /// No log line, diagnostic or report may wait for journald (issue 24, item 5): with journald
    /// stopped, one refused request's log line once froze an event loop for 145 s, and the hook's
    /// report held a login for 20 s.
    @Suite struct StalledJournaldTests {
        @Test func theDaemonServesWhileJournaldTakesNothing() throws {
            _ = try requireTestAccount()
            let journal = try StalledJournal.require()
            // It starts (logging as it does), and answers.
            let daemon = try DaemonUnderTest(wrapper: journal.wrapper)
            // Refused requests of another user, each a diagnostic, and a reload, which logs. Every
            // exchange is bounded, so that a daemon that waits on journald fails the test, not hangs it.
            for _ in 0..<3 {
                let refused = try runCommand(
                    "/usr/bin/timeout",
                    [
                        "10", "/usr/bin/setpriv", "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups",
                        "--", "/usr/bin/python3", "-c",
                        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); "
                            + "s.sendall(sys.argv[2].encode()+b'\\n'); print(s.makefile().readline())",
                        daemon.socketPath, emitLine(user: "x"),
                    ])
                #expect(errorCode(refused.output) == "forbidden", "\(refused)")
            }
            daemon.signal(SIGHUP)
            let start = ContinuousClock.now
            let client = try Client(daemon.socketPath, timeoutSeconds: 5)
            for index in 0..<20 {
                #expect(try client.final(#"{"op":"ping"}"#)["ok"] as? Bool == true)
                #expect(try client.final(emitLine(user: "u\(index)"))["seq"] as? Int == index + 1)
            }
            // Twenty pings and twenty durable emits: an event loop waiting on journald answers none.
            #expect(ContinuousClock.now - start < .seconds(10))
            let stats = try client.final(#"{"op":"stats"}"#)
            #expect((stats["log_lines_dropped"] as? Int ?? 0) > 0, "\(stats)")
            #expect(daemon.stop() == 0)
        }

        @Test func theHookKeepsItsBoundWhenJournaldAndTheDaemonAreFrozen() throws {
            let journal = try StalledJournal.require()
            let daemon = try DaemonUnderTest()
            daemon.signal(SIGSTOP)
            defer { daemon.signal(SIGCONT) }
            for _ in 0..<5 {
                let hook = Process()
                // Bounded: a hook that waits on journald fails the test rather than hanging it.
                hook.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
                hook.arguments =
                    ["10"] + journal.wrapper + [
                        cliPath, "pam", "--socket", daemon.socketPath, "--spool", daemon.spoolPath, "--timeout",
                        "500ms",
                    ]
                hook.environment = ["PAM_TYPE": "auth", "PAM_USER": "alice", "PAM_SERVICE": "sshd"]
                hook.standardInput = FileHandle.nullDevice
                hook.standardError = FileHandle.nullDevice
                let start = ContinuousClock.now
                try hook.run()
                hook.waitUntilExit()
                let elapsed = ContinuousClock.now - start
                #expect(hook.terminationStatus == 0)
                // The hook's 500 ms, the spool's fsync and two process starts.
                #expect(elapsed < hookBound, "the hook took \(elapsed)")
            }
            let spooled = try FileManager.default.contentsOfDirectory(atPath: daemon.spoolPath).filter {
                $0.hasSuffix(Spool.suffix)
            }
            #expect(spooled.count == 5)
        }
    }
}
