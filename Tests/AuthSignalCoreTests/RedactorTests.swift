import AuthSignalCore
import AuthSignalProtocol
import Crypto
import Foundation
import Testing

@Suite struct RedactorTests {
    let peer = PeerCredentials(uid: 0, gid: 0, pid: 1)

    func redactor(accounts: Set<String> = ["root", "alice"], hashUnknownUsers: Bool = true) throws -> Redactor {
        Redactor(
            mode: .hmac, key: try RedactionKey(bytes: Array(repeating: 9, count: 32)),
            hashUnknownUsers: hashUnknownUsers, isKnownAccount: { accounts.contains($0) })
    }

    /// Patterns match anywhere in a key, in any case: ASCII keys are folded in place, others
    /// lowercased as Unicode does (a custom pattern may be non-ASCII).
    @Test func sensitiveKeysAreFoundInAnyCase() throws {
        let redactor = try redactor()
        for key in ["password", "PassWord", "X-Auth-Token", "api_KEY", "Ünïcode_PASSWORD", "sessionid", "otp"] {
            #expect(redactor.isSensitive(key), "\(key)")
        }
        for key in ["remote_addr", "service", "tty", "café", "", "pas"] {
            #expect(!redactor.isSensitive(key), "\(key)")
        }
        let custom = Redactor(
            mode: .mask, key: try RedactionKey(bytes: Array(repeating: 1, count: 32)), patterns: ["Пароль", "pin"],
            isKnownAccount: { _ in true })
        #expect(custom.isSensitive("ПАРОЛЬ_1") && custom.isSensitive("user_PIN") && !custom.isSensitive("password"))
    }

    /// A failed login's unknown name is hashed wherever the event repeats it: `user`, the
    /// credentials' username keys and any request or credential string equal to it, nested too.
    @Test func unknownNameIsHashedEverywhereItAppears() throws {
        let redactor = try redactor()
        let secret = "Tr0ub4dor&3"
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoginFailed, sender: "sshd", user: secret,
                request: [
                    "remote_user": .string(secret), "remote_addr": .string("203.0.113.9"),
                    "history": .array([.object(["tried": .string(secret)])]),
                ],
                credentials: ["username": .string(secret), "login": .string(secret)]),
            peer: peer)
        let hashed = JSONValue.string(redactor.keyedHash(secret))
        #expect(event.user == redactor.keyedHash(secret))
        #expect(event.credentials?["username"] == hashed)
        #expect(event.credentials?["login"] == hashed)
        #expect(event.request?["remote_user"] == hashed)
        #expect(event.request?["history"] == .array([.object(["tried": hashed])]))
        #expect(event.request?["remote_addr"] == .string("203.0.113.9"))
    }

    /// Each sending uid hashes with its own key (issue 24, item 4): root's hashes are those of the
    /// redaction key itself (so older records and the `hash` op still match them), another uid's
    /// can never equal them, and its own are reproducible for the hash class.
    @Test func eachSenderHashesWithItsOwnKey() throws {
        let redactor = try redactor()
        let secret = "Spring2027!"
        func stored(by uid: UInt32) -> JSONValue? {
            redactor.redact(
                AuthEvent(
                    signal: .userLoginFailed, sender: "sshd", user: "root", credentials: ["password": .string(secret)]),
                peer: PeerCredentials(uid: uid, gid: uid, pid: 1)
            ).credentials?["password"]
        }
        // Root's: HMAC-SHA-256 under the redaction key itself, as before senders had keys.
        let plain = HMAC<SHA256>.authenticationCode(
            for: Data(secret.utf8), using: SymmetricKey(data: Data(repeating: 9, count: 32)))
        #expect(stored(by: 0) == .string("hmac-sha256:" + plain.map { String(format: "%02x", $0) }.joined()))
        #expect(stored(by: 0) == .string(redactor.keyedHash(secret)))
        #expect(stored(by: 1000) != stored(by: 0) && stored(by: 1000) != stored(by: 1001))
        #expect(stored(by: 1000) == .string(redactor.keyedHash(secret, senderUID: 1000)))
        // A name typed as a user is hashed with the sender's key too.
        let name = redactor.redact(
            AuthEvent(signal: .userLoginFailed, sender: "app", user: secret),
            peer: PeerCredentials(uid: 1000, gid: 1000, pid: 1))
        #expect(name.user == redactor.keyedHash(secret, senderUID: 1000))
    }

    /// A known `user` stays, but a second name in the credentials that names no account is
    /// hashed; and without `user` the first username key names the account.
    @Test func everyGivenNameIsJudgedOnItsOwn() throws {
        let redactor = try redactor()
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoginFailed, sender: "sshd", user: "alice",
                credentials: ["username": .string("alice"), "email": .string("hunter2")]),
            peer: peer)
        #expect(event.user == "alice")
        #expect(event.credentials?["username"] == .string("alice"))
        #expect(event.credentials?["email"] == .string(redactor.keyedHash("hunter2")))
        let fromCredentials = redactor.redact(
            AuthEvent(signal: .userLoginFailed, sender: "sshd", credentials: ["username": .string("root")]), peer: peer)
        #expect(fromCredentials.user == "root")
    }

    /// Only failed logins are judged: a successful login's user is an account by definition, and
    /// a value equal to an unknown name in another kind of event is not touched.
    @Test func otherSignalsAreNotHashed() throws {
        let event = try redactor().redact(
            AuthEvent(
                signal: .userLoggedIn, sender: "sshd", user: "bob", request: ["remote_user": .string("bob")]),
            peer: peer)
        #expect(event.user == "bob")
        #expect(event.request?["remote_user"] == .string("bob"))
    }

    /// A name with escapes, bidi overrides or over 256 bytes is never refused; unhashed it is
    /// stored escaped, truncated to 256 bytes and marked.
    @Test func unsafeNamesAreEscapedTruncatedAndMarked() throws {
        #expect(Redactor.displayableName("alice") == "alice")
        #expect(Redactor.displayableName("a\u{1b}[2Jb") == "a\\x1b[2Jb" + Redactor.alteredNameMarker)
        #expect(Redactor.displayableName("evil\u{202e}txt") == "evil\\u{202e}txt" + Redactor.alteredNameMarker)
        #expect(Redactor.displayableName("c1\u{9b}") == "c1\\x9b" + Redactor.alteredNameMarker)
        let long = Redactor.displayableName(String(repeating: "é", count: 300))
        #expect(long.utf8.count <= WireProtocol.maximumNameBytes)
        #expect(long.hasSuffix(Redactor.alteredNameMarker))
        #expect(long.hasPrefix("éé"))
        let event = try redactor(hashUnknownUsers: false).redact(
            AuthEvent(signal: .userLoginFailed, sender: "sshd", user: "x\u{7}"), peer: peer)
        #expect(event.user == "x\\x07" + Redactor.alteredNameMarker)
        let hashed = try redactor().redact(
            AuthEvent(signal: .userLoginFailed, sender: "sshd", user: "x\u{7}"), peer: peer)
        #expect(hashed.user?.hasPrefix("hmac-sha256:") == true)
    }

    /// The daemon takes only a key file it owns that is a regular file only it may read: a key
    /// someone else planted is one they know, and a FIFO in its place would hang start-up.
    @Test func plantedKeyFilesAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.path + "/redaction-key-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = directory + "/made.key"
        _ = try RedactionKey.loadOrCreate(at: made)
        _ = try RedactionKey.loadOrCreate(at: made)
        let fifo = directory + "/fifo.key"
        mkfifo(fifo, 0o600)
        #expect(throws: RedactionKeyError.notARegularFile(fifo)) { try RedactionKey.loadOrCreate(at: fifo) }
        let loose = directory + "/loose.key"
        _ = FileManager.default.createFile(
            atPath: loose, contents: Data(count: 32), attributes: [.posixPermissions: 0o644])
        #expect(throws: RedactionKeyError.readableByOthers(loose, 0o644)) { try RedactionKey.loadOrCreate(at: loose) }
        if geteuid() == 0 {
            let planted = directory + "/planted.key"
            _ = FileManager.default.createFile(
                atPath: planted, contents: Data(count: 32), attributes: [.posixPermissions: 0o600])
            chown(planted, 65534, 65534)
            #expect(throws: RedactionKeyError.ownedByAnother(planted, 65534)) {
                try RedactionKey.loadOrCreate(at: planted)
            }
        }
    }
}
