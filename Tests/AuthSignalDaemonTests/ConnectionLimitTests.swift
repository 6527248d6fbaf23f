import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

@testable import AuthSignalDaemon

/// `MaxConnections` and `MaxConnectionsPerUser` on a real socket in process (``DaemonHarness``'s
/// listener): one user cannot take every connection, and root (PAM's hooks) is never kept out.
@Suite("Connection limits, in process")
struct ConnectionLimitTests {
    /// A user's processes, as the kernel shows them to the daemon.
    static let user: UInt32 = 65534

    /// Opens four connections as the user, pings on each, prints each first answer line, and
    /// closes them all at exit. A refused connection is answered and closed before its ping may
    /// go out: the refusal is read all the same.
    static let fourConnections = """
        import socket, sys
        held = []
        for attempt in range(4):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            try:
                s.sendall(b'{"op":"ping"}\\n')
            except BrokenPipeError:
                pass
            print(s.makefile().readline().strip(), flush=True)
            held.append(s)
        """

    @Test func oneUserCannotTakeEveryConnectionButRootStillConnects() async throws {
        let harness = try DaemonHarness { $0.maxConnectionsPerUser = 3 }
        let listener = try await harness.listen()
        let lines = try await listener.python(Self.fourConnections, as: Self.user)
        #expect(lines.count == 4, "\(lines)")
        #expect(lines.prefix(3).allSatisfy { $0.contains(#""ok":true"#) }, "\(lines)")
        #expect(errorCode(lines.last ?? "") == "unavailable")
        #expect(lines.last?.contains("MaxConnectionsPerUser=3") == true)
        // Root is not limited.
        let pings = try await onThread {
            let roots = try (0..<5).map { _ in try Client(listener.path) }
            return try roots.map { try $0.final(#"{"op":"ping"}"#)["ok"] as? Bool }
        }
        #expect(pings == Array(repeating: true, count: 5))
        // The user's connections were counted down when they closed: it may connect again.
        try await waitFor("the user's connections to be released") { harness.processor.counters.connections == 0 }
        let again = try await listener.python(Self.fourConnections, as: Self.user)
        #expect(again.prefix(3).allSatisfy { $0.contains(#""ok":true"#) }, "\(again)")
        try await listener.stop()
        try await harness.close()
    }

    @Test func rootIsExemptFromMaxConnections() async throws {
        let harness = try DaemonHarness { $0.maxConnections = 2 }
        let listener = try await harness.listen()
        let hold = """
            import socket, sys, time
            held = []
            for attempt in range(3):
                s = socket.socket(socket.AF_UNIX)
                s.connect(sys.argv[1])
                held.append(s)
            print("holding", flush=True)
            time.sleep(4)
            """
        async let holder = listener.python(hold, as: Self.user)
        try await waitFor("the user to hold every connection") { harness.processor.counters.connections >= 2 }
        let stored = try await onThread {
            try Client(listener.path).final(emitLine(user: "root-past-the-limit"))["ok"] as? Bool
        }
        #expect(stored == true)
        #expect(try await holder == ["holding"])
        try await listener.stop()
        try await harness.close()
    }

    /// A thousand clients connected at once are each answered, and the daemon serves on.
    @Test func thousandConnectionsAtOnce() async throws {
        let harness = try DaemonHarness()
        let listener = try await harness.listen()
        let answered = try await onThread {
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            if limit.rlim_cur < 2200 {
                limit.rlim_cur = min(limit.rlim_max, 4096)
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
            let clients = try (0..<1000).map { _ in try Client(listener.path) }
            for client in clients { try client.send(#"{"op":"ping"}"# + "\n") }
            return try clients.count { try $0.readLine()?.contains(#""ok":true"#) == true }
        }
        #expect(answered == 1000)
        let served = try await onThread { try Client(listener.path).final(emitLine(user: "probe"))["ok"] as? Bool }
        #expect(served == true)
        try await listener.stop()
        try await harness.close()
    }
}
