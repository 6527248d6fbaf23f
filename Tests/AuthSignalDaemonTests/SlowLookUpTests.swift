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
    /// The longest a slow look-up blocks when nothing releases it.
    static let slowLookUp = DispatchTimeInterval.seconds(30)
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
        let release = DispatchSemaphore(value: 0)
        let released = Atomic<Bool>(false)
        let listener = try await harness.listen { credentials in
            asked.withLock { $0.append(credentials.uid) }
            if credentials.uid == Self.slowUID {
                released.store(
                    release.wait(timeout: .now() + Self.slowLookUp) == .success, ordering: .sequentiallyConsistent)
            }
            return PeerIdentity(credentials: credentials, groups: [credentials.gid])
        }
        async let slow = Self.ping(listener, as: Self.slowUID)
        try await waitFor("the slow look-up") { asked.withLock { $0.contains(Self.slowUID) } }
        #expect(try await Self.ping(listener, as: Self.fastUID).contains(#""daemon":"authsignald""#))
        // Answered while the slow look-up still blocks: it ends only when released.
        release.signal()
        // The slow peer is served once it is known.
        #expect(try await slow.contains(#""daemon":"authsignald""#))
        let releasedByTheTest = released.load(ordering: .sequentiallyConsistent)
        #expect(releasedByTheTest, "the fast peer was answered only after the slow look-up gave up")
        // Root may do everything: its groups are never asked, so it never waits on NSS.
        let root = try await onThread { try Client(listener.path).final(Self.ping)["daemon"] as? String }
        #expect(root == "authsignald")
        #expect(asked.withLock { $0 } == [Self.slowUID, Self.fastUID])
        try await listener.stop()
        try await harness.close()
    }

    @Test func aFailedLoginWhoseNameTakesSecondsHoldsUpNoOtherConnectionAndKeepsItsOrder() async throws {
        let lookingUp = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        let released = Atomic<Bool>(false)
        let accounts = KnownAccounts(lookUpMayBlock: true) { name in
            if name == "slow-name" {
                lookingUp.store(true, ordering: .sequentiallyConsistent)
                released.store(
                    release.wait(timeout: .now() + Self.slowLookUp) == .success, ordering: .sequentiallyConsistent)
            }
            return false
        }
        let harness = try DaemonHarness(accounts: accounts)
        let listener = try await harness.listen { PeerIdentity(credentials: $0, groups: []) }
        let emitting = try Client(listener.path)
        try emitting.send(
            Answer.emit("slow-name", signal: "user_login_failed") + "\n" + Answer.emit("alice") + "\n")
        try await waitFor("the slow look-up") { lookingUp.load(ordering: .sequentiallyConsistent) }
        let answer = try await onThread { try Client(listener.path).final(Self.ping)["daemon"] as? String }
        #expect(answer == "authsignald")
        // Answered while the look-up still blocks: it ends only when released.
        release.signal()
        // Both acknowledged, in the order sent, and stored in that order: the login that needed
        // no look-up waited behind the failure that did.
        let acks = try await onThread { try [emitting.answer(), emitting.answer()].flatMap { $0 } }
        #expect(try Answer.seqs(acks) == [1, 2])
        let releasedByTheTest = released.load(ordering: .sequentiallyConsistent)
        #expect(releasedByTheTest, "the ping was answered only after the slow look-up gave up")
        let records = try await harness.records()
        #expect(records.map(\.signal) == [.userLoginFailed, .userLoggedIn])
        #expect(records.last?.user == "alice")
        try await listener.stop()
        try await harness.close()
    }
}
