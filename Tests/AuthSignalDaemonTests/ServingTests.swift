import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Signals
import Synchronization
import Testing

@testable import AuthSignalDaemon

/// The one serving path (``RequestProcessor/serve(_:peer:from:)``) and the daemon's own signals,
/// in process.
@Suite("Serving, in process")
struct ServingTests {
    static let root = PeerIdentity(credentials: PeerCredentials(uid: 0, gid: 0, pid: 1), groups: [0])
    static let stranger = PeerIdentity(credentials: PeerCredentials(uid: 4242, gid: 4242, pid: 1), groups: [4242])

    /// What `work` is, in a word.
    static func kind(_ work: RequestProcessor.Work) -> String {
        switch work {
        case .emit: "emit"
        case .read: "read"
        case .refused(let error): error.code.rawValue
        }
    }

    @Test func eachSourceIsServedWhatItMayCarryAndAccessIsCheckedForBoth() async throws {
        let harness = try DaemonHarness()
        let processor = harness.processor
        let emit = Array(Answer.emit("alice").utf8)
        let query = Array(#"{"op":"query"}"#.utf8)
        #expect(Self.kind(processor.serve(emit, peer: Self.root, from: .connection).work) == "emit")
        #expect(Self.kind(processor.serve(emit, peer: Self.root, from: .spool).work) == "emit")
        #expect(Self.kind(processor.serve(query, peer: Self.root, from: .connection).work) == "read")
        // A spooled line is an emit or nothing, even root's.
        let spooledQuery = processor.serve(query, peer: Self.root, from: .spool)
        #expect(Self.kind(spooledQuery.work) == "invalid_request" && spooledQuery.op == "query")
        // [Access] holds for every source.
        #expect(Self.kind(processor.serve(emit, peer: Self.stranger, from: .connection).work) == "forbidden")
        #expect(Self.kind(processor.serve(emit, peer: Self.stranger, from: .spool).work) == "forbidden")
        let garbage = processor.serve(Array("{nope".utf8), peer: Self.root, from: .spool)
        #expect(Self.kind(garbage.work) == "invalid_json" && garbage.op == nil)
        // Nothing is stored until the source dispatches, which it does in its own order.
        #expect(try await harness.records().isEmpty)
        guard case .emit(let ready) = processor.serve(emit, peer: Self.root, from: .spool).work else {
            Issue.record("not an emit")
            return
        }
        #expect(!ready.mayBlock)
        #expect(try await ready.dispatch().value.seq == 1)
        #expect(try await harness.records().map(\.user) == ["alice"])
        try await harness.close()
    }

    @Test func twoDaemonsInOneProcessNeverHearEachOther() async throws {
        let first = try DaemonHarness()
        let second = try DaemonHarness()
        let heard = Mutex<[String]>([])
        first.receivers.signals.userLoggedIn.connect(dispatchUID: "test.heard") { _, payload in
            heard.withLock { $0.append(payload.event.user ?? "") }
        }
        let following = first.processor.followers.subscribe(RecordFilter())
        _ = try await second.exchange([Answer.emit("bob")])
        _ = try await first.exchange([Answer.emit("alice")])
        _ = try await second.exchange([Answer.emit("carol")])
        #expect(try await first.records().map(\.user) == ["alice"])
        #expect(try await second.records().map(\.user) == ["bob", "carol"])
        #expect(heard.withLock { $0 } == ["alice"])
        var followed: [String?] = []
        for await record in following.records {
            followed.append(record.user)
            break
        }
        #expect(followed == ["alice"])
        first.processor.followers.finishAll()
        try await first.close()
        try await second.close()
    }

    @Test func theStoreReceiverCannotBeTakenAwayNorBrokenByAnother() async throws {
        let harness = try DaemonHarness()
        let signal = harness.receivers.signals.userLoggedIn
        // Disconnecting by the store receiver's name finds nothing: it has no dispatch UID.
        #expect(!signal.disconnect(dispatchUID: "authsignald.store"))
        #expect(!signal.disconnect(dispatchUID: "authsignald"))
        // Other receivers run beside it, after it; one that throws costs the record nothing.
        let heard = Mutex<Int>(0)
        signal.connect(dispatchUID: "test.failing") { _, _ in throw ProtocolError(.internal, "boom") }
        signal.connect(dispatchUID: "test.other") { _, _ in heard.withLock { $0 += 1 } }
        let answers = try await harness.exchange([Answer.emit("alice")])
        #expect(try Answer.seqs(answers) == [1])
        #expect(heard.withLock { $0 } == 1)
        #expect(try await harness.records().map(\.user) == ["alice"])
        try await harness.close()
    }

    @Test(arguments: [false, true])
    func anUncachedNameRunsElsewhereOnlyWhenNSSMayWait(_ sourcesMayWait: Bool) async throws {
        let accounts = KnownAccounts(lookUpMayBlock: sourcesMayWait) { _ in false }
        let harness = try DaemonHarness(accounts: accounts)
        let failed = Array(Answer.emit("someone-new", signal: "user_login_failed").utf8)
        guard case .emit(let first) = harness.processor.serve(failed, peer: Self.root, from: .connection).work else {
            Issue.record("not an emit")
            return
        }
        #expect(first.mayBlock == sourcesMayWait)
        _ = try await first.dispatch().value
        // Now the cache knows the name: nothing left to wait for.
        guard case .emit(let again) = harness.processor.serve(failed, peer: Self.root, from: .connection).work else {
            Issue.record("not an emit")
            return
        }
        #expect(!again.mayBlock)
        try await harness.close()
    }
}
