package import AuthSignalProtocol
import Crypto
package import Foundation

/// Replaces sensitive values in events before anything else sees them (docs/protocol.md, "Redaction").
///
/// Keys of `credentials` and `request`, at any depth and inside arrays, whose name contains one
/// of the patterns (case-insensitive substring, as Django's `SafeExceptionReporterFilter`) get
/// their whole value replaced: by Django's 20 asterisks in ``Mode/mask`` mode, or by
/// `hmac-sha256:<hex>` keyed by the ``RedactionKey`` in ``Mode/hmac`` mode, so that equal secrets
/// stay correlatable without being stored.
package struct Redactor: Sendable {
    /// How a sensitive value is replaced.
    package enum Mode: String, Sendable, CaseIterable {
        /// By `********************`.
        case mask
        /// By `hmac-sha256:<hex>` of the value.
        case hmac
    }

    /// Django's replacement for a sensitive value.
    package static let mask = "********************"

    /// Django's `api|token|key|secret|password|signature` plus the patterns auth events need.
    package static let defaultPatterns = [
        "api", "token", "key", "secret", "password", "signature",
        "pass", "auth", "cookie", "session", "credential", "private", "otp",
    ]

    /// Credential keys that name the account when an event's `user` is absent.
    package static let usernameKeys = ["username", "user", "login", "email", "account"]

    /// The replacement mode.
    package let mode: Mode
    /// The lower-cased patterns.
    package let patterns: [String]
    /// The patterns' UTF-8 bytes, for matching without Foundation's string search.
    private let patternBytes: [[UInt8]]
    /// Whether a failed login's username that is not a known account is stored keyed-hashed
    /// (it may be a password typed into the username prompt).
    package let hashUnknownUsers: Bool
    private let key: RedactionKey
    private let isKnownAccount: @Sendable (String) -> Bool

    /// Creates a redactor.
    /// - Parameters:
    ///   - mode: how sensitive values are replaced.
    ///   - key: the key of keyed hashes (used in both modes for unknown usernames).
    ///   - patterns: sensitive key patterns; the defaults when `nil`.
    ///   - hashUnknownUsers: hash a failed login's username that names no account.
    ///   - isKnownAccount: whether a name is an account; by default asks the system (`getpwnam`).
    package init(
        mode: Mode, key: RedactionKey, patterns: [String]? = nil, hashUnknownUsers: Bool = true,
        isKnownAccount: @escaping @Sendable (String) -> Bool = Redactor.systemHasAccount
    ) {
        self.mode = mode
        self.key = key
        self.patterns = (patterns ?? Self.defaultPatterns).map { $0.lowercased() }.filter { !$0.isEmpty }
        self.patternBytes = self.patterns.map { Array($0.utf8) }
        self.hashUnknownUsers = hashUnknownUsers
        self.isKnownAccount = isKnownAccount
    }

    /// Whether the system knows an account of that name.
    package static func systemHasAccount(_ name: String) -> Bool {
        getpwnam(name) != nil
    }

    /// Whether `key` contains one of the default patterns (case-insensitive): what a client
    /// checks before letting a value through its command line.
    package static func looksSensitive(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return defaultPatterns.contains { lowered.contains($0) }
    }

    /// Whether `key` names a sensitive value.
    package func isSensitive(_ key: String) -> Bool {
        var key = key
        // Keys are almost always ASCII: matched in place, folding case byte by byte, which is
        // what lowercasing does to ASCII. Every key of every event passes here.
        if let answer = key.withUTF8({ bytes in
            bytes.allSatisfy { $0 < 0x80 } ? patternBytes.contains { Self.contains(bytes, $0) } : nil
        }) {
            return answer
        }
        let lowered = Array(key.lowercased().utf8)
        return lowered.withUnsafeBufferPointer { bytes in patternBytes.contains { Self.contains(bytes, $0) } }
    }

    /// Whether `pattern` (lower-case) occurs in `text`, ASCII letters of `text` compared
    /// without case.
    private static func contains(_ text: UnsafeBufferPointer<UInt8>, _ pattern: [UInt8]) -> Bool {
        guard !pattern.isEmpty, pattern.count <= text.count else { return pattern.isEmpty }
        let folded = { (byte: UInt8) in byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        return pattern.withUnsafeBufferPointer { pattern in
            for start in 0...(text.count - pattern.count) {
                var offset = 0
                while offset < pattern.count, folded(text[start + offset]) == pattern[offset] { offset += 1 }
                if offset == pattern.count { return true }
            }
            return false
        }
    }

    /// What every keyed hash the redactor stores starts with.
    package static let keyedHashPrefix = "hmac-sha256:"

    /// The keyed hash the redactor stores for `value` in an event root sent (the PAM hook's, and
    /// the spool's): `hmac-sha256:<hex>`. With `senderUID`, as it stores it in that sender's
    /// events.
    package func keyedHash(_ value: String, senderUID: UInt32 = 0) -> String {
        var key = SenderKey(uid: senderUID)
        return keyedHash(bytes: Data(value.utf8), key: &key)
    }

    /// The key of the keyed hashes in one sender's events, derived when first needed.
    ///
    /// Each sending uid hashes with its own key: root (the PAM path) with the redaction key
    /// itself, any other uid with a key derived from it for that uid alone. A user allowed to
    /// emit and to read could otherwise emit guesses as a password and read back their hashes,
    /// testing each against the hash of a password root's hook stored, without the `hash` op's
    /// limit, its log line or its access class (issue 24, item 4).
    private struct SenderKey {
        let uid: UInt32
        private var derived: SymmetricKey?

        init(uid: UInt32) { self.uid = uid }

        mutating func key(_ redaction: RedactionKey) -> SymmetricKey {
            if let derived { return derived }
            let key =
                uid == 0
                ? redaction.symmetricKey : redaction.derivedKey(purpose: "authsignal keyed hash, sender uid \(uid)")
            derived = key
            return key
        }
    }

    /// Redacts `event`, sent by `peer`.
    ///
    /// A failed login's names (`user`, and the ``usernameKeys`` of `credentials`) that name no
    /// account may be passwords typed at the username prompt. With ``hashUnknownUsers`` each such
    /// name is keyed-hashed wherever the event carries it: in `user`, and in every string of
    /// `credentials` and `request`, at any depth, that equals it. This is the one place that
    /// decision is made; sinks never see the name.
    package func redact(_ event: AuthEvent, peer: PeerCredentials) -> RedactedEvent {
        var unknownNames: [String: String] = [:]
        var key = SenderKey(uid: peer.uid)
        for name in accountNames(in: event) where unknownNames[name] == nil && !isKnownAccount(name) {
            unknownNames[name] = keyedHash(bytes: Data(name.utf8), key: &key)
        }
        var user = event.user
        if event.signal == .userLoginFailed, user == nil {
            user = Self.usernameKeys.lazy.compactMap { event.credentials?[$0]?.stringValue }.first
        }
        if let name = user { user = unknownNames[name] ?? Self.displayableName(name) }
        return RedactedEvent(
            signal: event.signal, sender: event.sender, user: user,
            request: event.request.map { redact(object: $0, hashing: unknownNames, key: &key) },
            credentials: event.credentials.map { redact(object: $0, hashing: unknownNames, key: &key) },
            time: event.time, id: event.id, peer: peer)
    }

    /// The names ``redact(_:peer:)`` asks `isKnownAccount` about: with ``hashUnknownUsers``, a
    /// failed login's non-empty `user` and ``usernameKeys`` of `credentials`; none otherwise.
    package func accountNames(in event: AuthEvent) -> [String] {
        guard hashUnknownUsers, event.signal == .userLoginFailed else { return [] }
        let named = Self.usernameKeys.compactMap { event.credentials?[$0]?.stringValue }
        return ([event.user ?? named.first].compactMap { $0 } + named).filter { !$0.isEmpty }
    }

    /// A `user` as it may be stored when it is not hashed: at most
    /// ``WireProtocol/maximumNameBytes`` bytes, control and bidirectional formatting characters
    /// escaped as ``DisplaySafe`` does. A name that had to be changed ends in
    /// ``alteredNameMarker``, so it cannot pass for the name it resembles.
    package static func displayableName(_ name: String) -> String {
        let limit = WireProtocol.maximumNameBytes
        guard DisplaySafe.needsEscaping(name) || name.utf8.count > limit else { return name }
        let escaped = DisplaySafe.escaped(name)
        let room = limit - alteredNameMarker.utf8.count
        var kept = ""
        for character in escaped {
            guard kept.utf8.count + character.utf8.count <= room else { break }
            kept.append(character)
        }
        return kept + alteredNameMarker
    }

    /// Ends a name that ``displayableName(_:)`` escaped or truncated.
    package static let alteredNameMarker = "…[altered]"

    private func redact(object: JSONObject, hashing names: [String: String], key: inout SenderKey) -> JSONObject {
        var result = JSONObject()
        result.reserveCapacity(object.count)
        // In key order, so each member is appended at the end.
        for (name, value) in object {
            result[name] =
                isSensitive(name)
                ? replacement(for: value, key: &key) : redact(value: value, hashing: names, key: &key)
        }
        return result
    }

    private func redact(value: JSONValue, hashing names: [String: String], key: inout SenderKey) -> JSONValue {
        switch value {
        case .object(let members): return .object(redact(object: members, hashing: names, key: &key))
        case .array(let elements):
            var redacted: [JSONValue] = []
            redacted.reserveCapacity(elements.count)
            for element in elements { redacted.append(redact(value: element, hashing: names, key: &key)) }
            return .array(redacted)
        case .string(let text) where !names.isEmpty: return names[text].map(JSONValue.string) ?? value
        default: return value
        }
    }

    private func replacement(for value: JSONValue, key: inout SenderKey) -> JSONValue {
        switch mode {
        case .mask:
            return .string(Self.mask)
        case .hmac:
            if case .string(let text) = value { return .string(keyedHash(bytes: Data(text.utf8), key: &key)) }
            return .string(keyedHash(bytes: CanonicalJSON.encode(value), key: &key))
        }
    }

    private func keyedHash(bytes: Data, key: inout SenderKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: bytes, using: key.key(self.key))
        return Self.keyedHashPrefix + Hex.encode(code)
    }
}

/// The secret key of keyed hashes: 32 random bytes kept in a file only its owner can read.
package struct RedactionKey: Sendable {
    private let bytes: Data

    /// The key for swift-crypto.
    var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }

    /// A key for another purpose, derived from this one with HKDF-SHA256: the same secret, never
    /// the same key.
    func derivedKey(purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: symmetricKey, info: Data(purpose.utf8), outputByteCount: 32)
    }

    /// A key from raw bytes (at least 32).
    package init(bytes: some Sequence<UInt8>) throws {
        let data = Data(bytes)
        guard data.count >= 32 else { throw RedactionKeyError.tooShort(data.count) }
        self.bytes = data
    }

    /// Reads the key at `path`, or creates it there (mode 0600, 32 random bytes) when absent.
    /// Refuses a key file that others may read, that is a symbolic link or not a regular file,
    /// or that another user owns (someone who planted it would know every keyed hash's key).
    package static func loadOrCreate(at path: String) throws -> RedactionKey {
        do {
            return try load(at: path, owner: geteuid())
        } catch RedactionKeyError.io(_, ENOENT) {
            return try create(at: path)
        }
    }

    /// Reads the key at `path`; refuses one others may read, one that is not a regular file (a
    /// FIFO would block the read) and, with `owner`, one that user does not own.
    package static func load(at path: String, owner: uid_t? = nil) throws -> RedactionKey {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw RedactionKeyError.io(path, errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw RedactionKeyError.io(path, errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw RedactionKeyError.notARegularFile(path) }
        if let owner, info.st_uid != owner { throw RedactionKeyError.ownedByAnother(path, info.st_uid) }
        guard info.st_mode & 0o077 == 0 else {
            throw RedactionKeyError.readableByOthers(path, info.st_mode & 0o777)
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { throw RedactionKeyError.io(path, errno) }
        return try RedactionKey(bytes: buffer.prefix(count))
    }

    private static func create(at path: String) throws -> RedactionKey {
        let key = SymmetricKey(size: .bits256)
        let created = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard created >= 0 else { throw RedactionKeyError.io(path, errno) }
        defer { close(created) }
        let bytes = key.withUnsafeBytes { Array($0) }
        guard write(created, bytes, bytes.count) == bytes.count, fsync(created) == 0 else {
            let code = errno
            unlink(path)
            throw RedactionKeyError.io(path, code)
        }
        return try RedactionKey(bytes: bytes)
    }
}

/// Why a redaction key could not be used. Messages never contain key material.
package enum RedactionKeyError: Error, Equatable, CustomStringConvertible {
    case tooShort(Int)
    case readableByOthers(String, mode_t)
    case notARegularFile(String)
    case ownedByAnother(String, uid_t)
    case io(String, Int32)

    /// A message for people.
    package var description: String {
        switch self {
        case .tooShort(let count): "redaction key has \(count) bytes; at least 32 are needed"
        case .readableByOthers(let path, let mode):
            "redaction key \(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only (0600)"
        case .notARegularFile(let path): "redaction key \(path) is not a regular file"
        case .ownedByAnother(let path, let uid):
            "redaction key \(path) belongs to uid \(uid), not to the daemon (uid \(geteuid())): someone may know it; "
                + "remove it to have a new one made"
        case .io(let path, let code): "redaction key \(path): \(String(cString: strerror(code)))"
        }
    }
}
