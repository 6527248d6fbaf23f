import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Testing

@testable import AuthSignalDaemon

/// Verdicts through the daemon's serving path: judged from trusted senders only, so an emitter
/// can neither make nor hide one; carried by `query --verdict` and by follows (the journal entry
/// is AuditJournalTests').
@Suite("Verdicts: served")
struct VerdictServingTests {
    /// A member of the emit group: may record events, is not a trusted sender.
    static let emitter: UInt32 = 1000

    static func harness() throws -> DaemonHarness {
        try DaemonHarness(accountFacts: [:]) { config in
            config.emitUsers = [String(Self.emitter)]
            config.verdicts.enabled = [.successAfterFailures, .firstSeenSource]
            config.verdicts.failureThreshold = 3
            config.verdicts.learnLogins = 1
        }
    }

    static func emit(_ signal: String, _ user: String, from address: String) -> String {
        #"{"op":"emit","signal":"\#(signal)","sender":"sshd","user":"\#(user)","request":{"remote_addr":"\#(address)"}}"#
    }

    @Test func onlyTrustedSendersMakeVerdictsAndEveryReaderSeesThem() async throws {
        let harness = try Self.harness()
        await harness.store.verdictsLearned()
        let following = harness.processor.followers.subscribe(RecordFilter(signal: .userLoggedIn))
        // The emitter forges a brute force against alice, then a success of its own.
        let forged = (0..<5).map { _ in Self.emit("user_login_failed", "alice", from: "203.0.113.9") }
        _ = try await harness.exchange(
            forged + [Self.emit("user_logged_in", "alice", from: "203.0.113.9")], uid: Self.emitter)
        // Root (the PAM hook) reports alice's real login: the forged failures count for nothing.
        _ = try await harness.exchange([Self.emit("user_logged_in", "alice", from: "203.0.113.9")])
        // Then a real brute force and its success, from a source alice never used.
        let attack = (0..<3).map { _ in Self.emit("user_login_failed", "alice", from: "198.51.100.66") }
        let answers = try await harness.exchange(attack + [Self.emit("user_logged_in", "alice", from: "198.51.100.66")])
        let login = try #require(try Answer.seqs(answers).last)

        let judged = try await harness.records().filter { !$0.verdicts.isEmpty }
        #expect(judged.map(\.seq) == [login])
        #expect(judged.first?.verdicts.map(\.code) == [.firstSeenSource, .successAfterFailures])

        let lines = try await harness.exchange([#"{"op":"query","verdict":"success-after-failures"}"#], answers: 2)
        let record = try #require(try Answer.object(lines[0])["record"])
        guard case .object(let object) = record else { throw ProtocolError(.invalidJSON, lines[0]) }
        #expect(try WireRecord(object).verdicts == judged.first?.verdicts)
        #expect(try Answer.object(lines[1])["count"] == .int(1))

        var followed: [[VerdictCode]] = []
        for await record in following.records {
            followed.append(record.verdicts.map(\.code))
            if followed.count == 3 { break }
        }
        #expect(followed == [[], [], [.firstSeenSource, .successAfterFailures]])
        harness.processor.followers.finishAll()

        try await harness.close()
    }
}
