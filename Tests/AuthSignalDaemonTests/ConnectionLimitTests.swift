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
}

extension SpawnedTests {
    /// A thousand connections held at once: out of the test process, which must never hold that
    /// many descriptors. Foundation's `Process.run()` lists `/proc/self/fd` and copies 256 bytes of
    /// each entry's name (swift-corelibs-foundation PR 5472); past about 1,350 open descriptors an
    /// entry can end a page before an unmapped one, and a test spawning a program meanwhile would
    /// crash the whole test process.
    @Suite struct ThousandConnectionTests {
        /// Connects `count` clients at once, pings on each, and prints how many were answered.
        static let clients = """
            import resource, socket, sys
            count = int(sys.argv[2])
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 100)), hard))
            clients = []
            for _ in range(count):
                s = socket.socket(socket.AF_UNIX)
                s.connect(sys.argv[1])
                clients.append(s)
            for s in clients:
                s.sendall(b'{"op":"ping"}\\n')
            print(sum('"ok":true' in s.makefile().readline() for s in clients))
            """

        @Test func thousandConnectionsAtOnceAreEachAnsweredAndTheDaemonServesOn() throws {
            let daemon = try DaemonUnderTest()
            let answered = try runCommand("/usr/bin/python3", ["-c", Self.clients, daemon.socketPath, "1000"])
            #expect(answered.status == 0 && answered.output == "1000\n", "\(answered.output)")
            let served = try Client(daemon.socketPath).final(emitLine(user: "probe"))["ok"] as? Bool
            #expect(served == true)
        }
    }
}
