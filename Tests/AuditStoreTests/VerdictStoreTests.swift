import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDB
import TestSupport
import Testing

@testable import AuditStore

/// Verdicts as the writer judges and stores them: only trusted senders' events count, the
/// verdicts are kept beside the chain, found by `query --verdict`, learned again after a restart,
/// and a replay of the stored history gives the same ones.
@Suite("Verdicts: judged as records are stored")
struct VerdictStoreTests {
    static let stranger = PeerCredentials(uid: 1000, gid: 1000, pid: 77)

    static func options() -> StoreOptions {
        var settings = VerdictSettings()
        settings.enabled = [.firstSeenSource, .successAfterFailures]
        settings.learnLogins = 2
        settings.failureThreshold = 3
        var options = StoreOptions()
        options.verdicts = settings
        options.accountFacts = { _ in nil }
        return options
    }

    static func event(
        _ signal: AuthSignal, _ user: String, from address: String, peer: PeerCredentials = SessionTests.hook
    ) -> RedactedEvent {
        SessionTests.event(signal, user, at: 0, from: address, peer: peer, time: Date())
    }

    @Test("trusted failures then a success: stored, queried by code, in the record's JSON")
    func storedAndQueried() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"), options: Self.options())
        await store.verdictsLearned()
        for _ in 0..<3 { try await store.append(Self.event(.userLoginFailed, "alice", from: "203.0.113.9")) }
        let login = try await store.append(Self.event(.userLoggedIn, "alice", from: "203.0.113.9"))
        let other = try await store.append(Self.event(.userLoggedIn, "bob", from: "198.51.100.4"))

        let records = try await store.all()
        #expect(records.first { $0.seq == login.seq }?.verdicts.map(\.code) == [.successAfterFailures])
        #expect(records.first { $0.seq == other.seq }?.verdicts == [])
        #expect(try await store.all(RecordFilter(verdict: .successAfterFailures)).map(\.seq) == [login.seq])
        #expect(try await store.all(RecordFilter(user: "alice", verdict: .firstSeenSource)).isEmpty)

        var lines: [UInt8] = []
        _ = try await store.recordLines(matching: RecordFilter(verdict: .successAfterFailures)) { lines += $0 }
        let line = String(decoding: lines, as: UTF8.self)
        #expect(line.contains(#""verdicts":[{"code":"success-after-failures","reason":"login of alice"#))
        // The wire form reads back what it wrote.
        let object = try JSONParser.parse(lines.dropLast())
        guard case .object(let wrapper) = object, case .object(let record)? = wrapper["record"] else {
            Issue.record("not a record line: \(line)")
            return
        }
        #expect(try WireRecord(record).verdicts.map(\.code) == [.successAfterFailures])
        try await store.close()
    }

    @Test("an untrusted sender's events neither teach nor trigger a verdict")
    func untrustedSendersDoNotCount() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"), options: Self.options())
        await store.verdictsLearned()
        // A local emitter tries to make alice's next login look like a brute force…
        for _ in 0..<5 {
            try await store.append(Self.event(.userLoginFailed, "alice", from: "203.0.113.9", peer: Self.stranger))
        }
        // …and to teach a source, so that a login from it goes unremarked, or to flag one.
        for _ in 0..<3 {
            try await store.append(Self.event(.userLoggedIn, "bob", from: "192.0.2.66", peer: Self.stranger))
        }
        let forged = try await store.append(Self.event(.userLoggedIn, "root", from: "203.0.113.9", peer: Self.stranger))
        let alice = try await store.append(Self.event(.userLoggedIn, "alice", from: "203.0.113.9"))
        for _ in 0..<2 { try await store.append(Self.event(.userLoggedIn, "bob", from: "198.51.100.4")) }
        let bob = try await store.append(Self.event(.userLoggedIn, "bob", from: "192.0.2.66"))
        let judged = try await store.all(RecordFilter(afterSeq: 0)).filter { !$0.verdicts.isEmpty }
        #expect(judged.map(\.seq) == [bob.seq])
        #expect(judged.first?.verdicts.map(\.code) == [.firstSeenSource])
        #expect(![alice.seq, forged.seq].contains(judged.first?.seq ?? 0))
        try await store.close()
    }

    @Test("after a restart the judge knows the history; a replay gives the stored verdicts")
    func restartAndReplay() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var store = try AuditStore(path: path, options: Self.options())
        await store.verdictsLearned()
        let addresses = ["198.51.100.4", "198.51.100.4", "203.0.113.9", "192.0.2.1", "203.0.113.10"]
        for (index, address) in addresses.enumerated() {
            try await store.append(Self.event(.userLoginFailed, "alice", from: "192.0.2.200"))
            try await store.append(
                Self.event(index.isMultiple(of: 2) ? .userLoginFailed : .userLoggedIn, "alice", from: address))
            try await store.append(Self.event(.userLoggedIn, "alice", from: address))
        }
        try await store.close()
        store = try AuditStore(path: path, options: Self.options())
        await store.verdictsLearned()
        // 203.0.113.0/24 was learned before the restart; 100.64.0.0/24 is new.
        let known = try await store.append(Self.event(.userLoggedIn, "alice", from: "203.0.113.50"))
        let new = try await store.append(Self.event(.userLoggedIn, "alice", from: "100.64.0.1"))
        let stored = try await store.all()
        #expect(stored.first { $0.seq == known.seq }?.verdicts == [])
        #expect(stored.first { $0.seq == new.seq }?.verdicts.map(\.code) == [.firstSeenSource])
        #expect(stored.contains { $0.verdicts.contains { $0.code == .successAfterFailures } })

        let replay = try await store.judgedRecords(settings: Self.options().verdicts!, trusted: .rootOnly) { _ in nil }
        let replayed = Dictionary(uniqueKeysWithValues: replay.map { ($0.seq, $0.verdicts) })
        let live = Dictionary(
            uniqueKeysWithValues: stored.filter { !$0.verdicts.isEmpty }.map { ($0.seq, $0.verdicts) })
        #expect(!live.isEmpty)
        #expect(replayed == live)
        try await store.close()
    }

    @Test("the login notice: failures since the last login by source, a new source, the period's counts")
    func loginNotice() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"), options: Self.options())
        await store.verdictsLearned()
        let settings = Self.options().verdicts!
        func notice(from address: String) async throws -> LoginNotice {
            try await store.notice(user: "alice", remoteAddr: address, periodDays: 30, settings: settings)
        }
        #expect(try await notice(from: "198.51.100.4").account == nil)
        for _ in 0..<2 { try await store.append(Self.event(.userLoggedIn, "alice", from: "198.51.100.4")) }
        for address in ["203.0.113.9", "203.0.113.10", "192.0.2.1", "100.64.0.1", "203.0.113.11"] {
            try await store.append(Self.event(.userLoginFailed, "alice", from: address))
        }
        // Failures an emitter outside the trusted senders reports count nowhere.
        for _ in 0..<4 {
            try await store.append(Self.event(.userLoginFailed, "alice", from: "192.0.2.250", peer: Self.stranger))
        }
        let known = try await notice(from: "198.51.100.77")
        #expect(known.account?.failuresSinceLogin == 5)
        #expect(
            known.failuresBySource == [
                .init(source: "203.0.113.0/24", count: 3), .init(source: "100.64.0.0/24", count: 1),
                .init(source: "192.0.2.0/24", count: 1),
            ])
        #expect(known.failureSources == 3 && known.source == "198.51.100.0/24" && !known.firstFromSource)
        #expect(known.loginsInPeriod == 2 && known.failuresInPeriod == 5)
        #expect(try await notice(from: "203.0.113.9").firstFromSource)
        // The counts read the indexed part and the tail alike.
        await store.indexPendingRecords()
        let merged = try await notice(from: "203.0.113.9")
        #expect(
            merged.loginsInPeriod == 2 && merged.failuresInPeriod == 5
                && merged.failuresBySource == known.failuresBySource)
        try await store.close()
    }

    @Test("names that are no account stay hashed in reasons, and their failures still count")
    func hashedNamesKeepTheirVerdicts() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"), options: Self.options())
        await store.verdictsLearned()
        let redactor = Redactor(
            mode: .hmac, key: try RedactionKey(bytes: Array(repeating: 3, count: 32)),
            isKnownAccount: { $0 == "carol" })
        func event(_ signal: AuthSignal, _ user: String) -> RedactedEvent {
            redactor.redact(
                AuthEvent(
                    signal: signal, sender: "sshd", user: user, request: ["remote_addr": .string("203.0.113.9")],
                    credentials: signal == .userLoginFailed ? ["password": .string("guess")] : nil),
                peer: SessionTests.hook)
        }
        // A spray over names that are no account here: stored keyed-hashed.
        for name in ["oracle", "admin", "postgres"] { try await store.append(event(.userLoginFailed, name)) }
        let login = try await store.append(event(.userLoggedIn, "carol"))
        let reason = try #require(try await store.all().first { $0.seq == login.seq }?.verdicts.first?.reason)
        #expect(reason.contains("3 failures from 203.0.113.0/24, the last against hmac-sha256:"), "\(reason)")
        for name in ["oracle", "admin", "postgres"] { #expect(!reason.contains(name)) }
        try await store.close()
    }

    @Test("records stored while the judge still learns are judged once it has learned")
    func judgedAfterLearning() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var store = try AuditStore(path: path, options: Self.options())
        await store.verdictsLearned()
        try await store.fill(6000) { index in
            Self.event(
                index.isMultiple(of: 3) ? .userLoginFailed : .userLoggedIn, "user\(index % 50)", from: "198.51.100.4")
        }
        try await store.close()
        // Reopened, the judge learns 6,000 records on its own thread; these are stored meanwhile.
        store = try AuditStore(path: path, options: Self.options())
        let new = try await store.append(Self.event(.userLoggedIn, "user7", from: "203.0.113.5"))
        let other = try await store.append(Self.event(.userLoggedIn, "user8", from: "198.51.100.9"))
        await store.verdictsLearned()
        let stored = try await store.all(RecordFilter(afterSeq: 6000))
        #expect(stored.first { $0.seq == new.seq }?.verdicts.map(\.code) == [.firstSeenSource])
        #expect(stored.first { $0.seq == other.seq }?.verdicts == [])
        // Every record has its verdicts now: a reader waiting for them reads up to the head.
        let reader = try ReadOnlyAuditLog(path: path)
        #expect(try await reader.settledHead() == other.seq)
        try reader.close()
        try await store.close()
    }

    @Test("records a stopped daemon left without verdicts are judged at the next start; readers wait")
    func judgedAfterARestart() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var store = try AuditStore(path: path, options: Self.options())
        await store.verdictsLearned()
        for _ in 0..<2 { try await store.append(Self.event(.userLoggedIn, "alice", from: "198.51.100.4")) }
        try await store.close()
        // What a daemon stopped while its judge learned leaves: a record stored without its
        // verdicts, and the note that records after seq 2 wait for them.
        var unjudged = StoreOptions()
        unjudged.accountFacts = { _ in nil }
        store = try AuditStore(path: path, options: unjudged)
        let login = try await store.append(Self.event(.userLoggedIn, "alice", from: "203.0.113.5"))
        try await store.close()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try PendingVerdicts.mark(after: 2, db) }
        try queue.close()
        let reader = try ReadOnlyAuditLog(path: path)
        #expect(try await reader.settledHead() == 2)

        store = try AuditStore(path: path, options: Self.options())
        await store.verdictsLearned()
        let stored = try await store.all(RecordFilter(afterSeq: 2))
        #expect(stored.map(\.seq) == [login.seq])
        #expect(stored.first?.verdicts.map(\.code) == [.firstSeenSource])
        #expect(try await reader.settledHead() == login.seq)
        try reader.close()
        try await store.close()
    }
}
