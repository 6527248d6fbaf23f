import AuthSignalCore
import AuthSignalProtocol
import Foundation
import SpawnSupport
import Testing

@testable import AuthSignalDaemon

/// The `hash` op and the per-sender keys of keyed hashes, in process (``DaemonHarness``): who may
/// look a value up, how often, what is logged, and that emitting and reading is no way around it.
@Suite("Keyed hashes, in process")
struct KeyedHashTests {
    /// An account that is not root, as the kernel would show it.
    static let user: UInt32 = 4243

    /// The password hashes in a query answer's record lines.
    static func passwordHashes(_ lines: [String]) throws -> [String] {
        try lines.dropLast().compactMap {
            ((try object($0)["record"] as? [String: Any])?["credentials"] as? [String: Any])?["password"] as? String
        }
    }

    @Test func keyedHashLookUpsAreForTheHashClassOnlyRateLimitedAndLogged() async throws {
        let secret = "Winter2026!-\(UUID().uuidString.prefix(6))"
        let harness = try DaemonHarness()
        let hashLine = #"{"op":"hash","value":"\#(secret)"}"#
        // Root asks the daemon, and gets what the key gives.
        let asked = try await harness.exchange([hashLine])
        let expected = Redactor(mode: .hmac, key: harness.key).keyedHash(secret)
        #expect(try object(asked[0])["hash"] as? String == expected, "\(asked)")
        #expect(expected.hasPrefix("hmac-sha256:"))
        // Anyone else, even a reader, is refused until [Access] HashUsers names them.
        harness.reconfigure { $0.readUsers = ["\(Self.user)"] }
        let refused = try await harness.exchange([hashLine], uid: Self.user)
        #expect(errorCode(refused[0]) == "forbidden", "\(refused)")
        #expect(refused[0].contains("may not look up keyed hashes"))
        harness.reconfigure { $0.hashUsers = ["\(Self.user)"] }
        // Twenty a minute: the 21st is refused, with when to retry.
        let answers = try await harness.exchange(Array(repeating: hashLine, count: 21), uid: Self.user)
        #expect(answers.count == 21)
        #expect(answers.prefix(20).allSatisfy { $0.contains(expected) }, "\(answers)")
        #expect(errorCode(answers.last ?? "") == "unavailable" && answers.last?.contains("try again in") == true)
        // Every use is logged with who asked, never with the value.
        #expect(harness.log.count("keyed-hash look-up by uid \(Self.user)") == 20)
        #expect(harness.log.count("keyed-hash look-up refused: uid \(Self.user) is over its rate limit") == 1)
        #expect(harness.log.count("keyed-hash look-up by uid 0") == 1)
        #expect(!harness.log.all.contains(secret))
        try await harness.close()
    }

    /// A user allowed to emit and read but not in the hash class once emitted 2,001 guesses as
    /// `credentials.password` and read their keyed hashes back, finding the password root's
    /// hook had stored hashed in 0.09 s with no look-up logged (issue 24, item 4). Each
    /// sender's hashes now have their own key: the right guess does not match.
    @Test func emittingAndReadingIsNoKeyedHashOracle() async throws {
        let secret = "Spring2027!-\(UUID().uuidString.prefix(6))"
        let harness = try DaemonHarness {
            $0.emitUsers = ["\(Self.user)"]
            $0.readUsers = ["\(Self.user)"]
            $0.redactionMode = .hmac
        }
        // Root's hook stores a failure with the password, hashed.
        let stored = try await harness.exchange([
            emitLine("user_login_failed", user: "root", credentials: #"{"password":"\#(secret)"}"#)
        ])
        #expect(try object(stored[0])["seq"] as? Int == 1, "\(stored)")
        let rootConnection = try await harness.connect()
        let rootHash = try #require(
            try Self.passwordHashes(try await rootConnection.request(#"{"op":"query","sender":"sshd"}"#)).first)
        // The account emits guesses, the right one among them, and reads their hashes back.
        let guesses = (0..<50).map { "guess-\($0)" } + [secret]
        let lines = guesses.enumerated().map { index, guess in
            #"{"op":"emit","signal":"user_login_failed","sender":"oracle","user":"root","id":"o-\#(index)","credentials":{"password":"\#(guess)"}}"#
        }
        let connection = try await harness.connect(uid: Self.user)
        try await connection.send(lines.map { $0 + "\n" }.joined())
        let emitted = try await connection.lines(lines.count)
        #expect(emitted.count == guesses.count && emitted.allSatisfy { $0.contains(#""ok":true"#) }, "\(emitted)")
        let hashes = try Self.passwordHashes(try await connection.request(#"{"op":"query","sender":"oracle"}"#))
        #expect(hashes.count == guesses.count)
        #expect(!hashes.contains(rootHash), "a guess's hash equals the hash of root's stored password")
        // The hash class still finds the password root's hook stored, and the account's own.
        let byRoot = try await rootConnection.final(#"{"op":"hash","value":"\#(secret)"}"#)
        #expect(byRoot["hash"] as? String == rootHash)
        let own = try await rootConnection.final(#"{"op":"hash","value":"\#(secret)","sender_uid":\#(Self.user)}"#)
        #expect(own["hash"] as? String == hashes.last, "\(own)")
        // Offline, the key file gives the same as the daemon (what `hash --key-file` computes).
        let offline = Redactor(mode: .hmac, key: harness.key).keyedHash(secret, senderUID: Self.user)
        #expect(offline == hashes.last)
        try await harness.close()
    }
}
