import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import SpawnSupport
import Synchronization
import TestSupport
import Testing

@testable import AuthSignalDaemon

/// Account look-ups (a peer's groups, whether a failed login's name is an account) go to NSS,
/// which with sssd or LDAP can take seconds. They never run on an event loop: a real socket in
/// process, on a single event loop so that every connection shares it, with a look-up that
/// blocks until the test has been answered on another connection (at most 30 s, so that a daemon
/// that waits on it still fails the test rather than hanging it). No wall-clock bound: on a loaded
/// machine a ping has taken longer than a 2 s look-up.
@Suite("Slow account look-ups, in process")
struct SlowLookUpTests {
    static let ping = #"{"op":"ping"}"#

    /// A look-up that blocks until the test releases it, or 30 s pass; it remembers which.
    final class HeldLookUp: Sendable {
        private let gate = DispatchSemaphore(value: 0)
        private let started = Atomic<Bool>(false)
        private let released = Atomic<Bool>(false)

        /// Blocks the look-up calling it.
        func block() {
            started.store(true, ordering: .sequentiallyConsistent)
            let answer = gate.wait(timeout: .now() + .seconds(30))
            released.store(answer == .success, ordering: .sequentiallyConsistent)
        }

        /// Whether a look-up is blocked (or was).
        var hasStarted: Bool { started.load(ordering: .sequentiallyConsistent) }

        /// Lets the blocked look-up go on.
        func release() { gate.signal() }

        /// Whether the look-up went on because the test released it, not because it gave up.
        var wasReleasedByTheTest: Bool { released.load(ordering: .sequentiallyConsistent) }
    }
    /// Peers that are not root, as processes of those users show them to the kernel.
    static let slowUID: UInt32 = 65534
    static let fastUID: UInt32 = 65533

    /// Pings the daemon behind `listener` from a process of `uid`; returns its answer.
    static func ping(_ listener: DaemonHarness.Listener, as uid: UInt32) async throws -> String {
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            s.sendall(b'{"op":"ping"}\\n')
            print(s.makefile().readline().strip())
            """
        return try await listener.python(script, as: uid).joined(separator: "\n")
    }

    @Test func aPeerWhoseGroupsTakeSecondsHoldsUpNoOtherConnection() async throws {
        let harness = try DaemonHarness()
        let asked = Mutex<[UInt32]>([])
        let held = HeldLookUp()
        let listener = try await harness.listen { credentials in
            asked.withLock { $0.append(credentials.uid) }
            if credentials.uid == Self.slowUID { held.block() }
            return PeerIdentity(credentials: credentials, groups: [credentials.gid])
        }
        async let slow = Self.ping(listener, as: Self.slowUID)
        try await waitFor("the slow look-up") { held.hasStarted }
        #expect(try await Self.ping(listener, as: Self.fastUID).contains(#""daemon":"authsignald""#))
        // Answered while the slow look-up still blocks: it ends only when released.
        held.release()
        // The slow peer is served once it is known.
        #expect(try await slow.contains(#""daemon":"authsignald""#))
        #expect(held.wasReleasedByTheTest, "the fast peer was answered only after the slow look-up gave up")
        // Root may do everything: its groups are never asked, so it never waits on NSS.
        let root = try await onThread { try Client(listener.path).final(Self.ping)["daemon"] as? String }
        #expect(root == "authsignald")
        #expect(asked.withLock { $0 } == [Self.slowUID, Self.fastUID])
        try await listener.stop()
        try await harness.close()
    }

    @Test func aFailedLoginWhoseNameTakesSecondsHoldsUpNoOtherConnectionAndKeepsItsOrder() async throws {
        let held = HeldLookUp()
        let accounts = KnownAccounts(lookUpMayBlock: true) { name in
            if name == "slow-name" { held.block() }
            return false
        }
        let harness = try DaemonHarness(accounts: accounts)
        let listener = try await harness.listen { PeerIdentity(credentials: $0, groups: []) }
        let emitting = try Client(listener.path)
        try emitting.send(
            Answer.emit("slow-name", signal: "user_login_failed") + "\n" + Answer.emit("alice") + "\n")
        try await waitFor("the slow look-up") { held.hasStarted }
        let answer = try await onThread { try Client(listener.path).final(Self.ping)["daemon"] as? String }
        #expect(answer == "authsignald")
        // Answered while the look-up still blocks: it ends only when released.
        held.release()
        // Both acknowledged, in the order sent, and stored in that order: the login that needed
        // no look-up waited behind the failure that did.
        let acks = try await onThread { try [emitting.answer(), emitting.answer()].flatMap { $0 } }
        #expect(try Answer.seqs(acks) == [1, 2])
        #expect(held.wasReleasedByTheTest, "the ping was answered only after the slow look-up gave up")
        let records = try await harness.records()
        #expect(records.map(\.signal) == [.userLoginFailed, .userLoggedIn])
        #expect(records.last?.user == "alice")
        try await listener.stop()
        try await harness.close()
    }
}
