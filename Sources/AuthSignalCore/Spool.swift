import AuthSignalProtocol
import Crypto
package import Foundation

/// The spool: where the PAM hook leaves an event it could not deliver in time, for the daemon to
/// store when it can (docs/pam.md).
///
/// One event per file, named `<µs since the epoch, 20 digits>-<idempotency id>.event` so that
/// name order is time order. A file holds the emit request line sealed with HPKE (X25519,
/// HKDF-SHA256, ChaCha20-Poly1305) to the daemon's spool key: the hook runs before redaction, so
/// the line may hold a password typed as a user name, and only the daemon may read it. The
/// daemon's public key is `public.key` in the directory, owned by the directory's owner.
///
/// Only root (the PAM hook runs as root under sshd, login, su and sudo) and the daemon may write
/// to the directory (mode 0700, owned by the daemon): a user can neither fill it, nor plant
/// entries in it, nor create it first. The kernel records each file's owner, which the daemon
/// takes as the sender, as it takes SO_PEERCRED on the socket.
package enum Spool {
    /// The default directory (`[Spool] Directory`).
    package static let defaultDirectory = "/var/spool/authsignal"
    /// The directory's mode: its owner's (the daemon's) only; root writes through its privilege.
    package static let directoryMode: mode_t = 0o700
    /// The daemon's public key file in the directory.
    package static let publicKeyName = "public.key"
    /// The subdirectory (the daemon's only) where files that cannot be trusted are moved.
    package static let refusedName = "refused"
    /// The ending of event files.
    package static let suffix = ".event"
    /// The largest event file: a request line of the default `MaxFrameBytes` and the envelope.
    package static let maximumFileBytes = WireProtocol.defaultMaxFrameBytes + 128
    /// The daemon keeps at most this many refused entries in `refused/`, deleting the oldest…
    package static let maximumRefused = 1_000
    /// …and at most this many bytes of them.
    package static let maximumRefusedBytes: Int64 = 64 << 20
    /// The hook spools no more than this many files…
    package static let maximumFiles = 10_000
    /// …and nothing when the file system has less free than this.
    package static let minimumFreeBytes: UInt64 = 64 << 20

    static let magic = Array("authsignal-spool-1\n".utf8)
    static var ciphersuite: HPKE.Ciphersuite { .Curve25519_SHA256_ChachaPoly }
    static let info = Data("authsignal spool v1".utf8)

    /// The file name of an event first tried at `time` with idempotency id `id`.
    package static func fileName(time: Date, id: String) -> String {
        let micros = max(0, Int64((time.timeIntervalSince1970 * 1_000_000).rounded()))
        let digits = String(micros)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "-" + id + suffix
    }

    /// Whether `name` is an event file's name (the daemon refuses any other name it finds).
    package static func isEventFileName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count > 21 + suffix.utf8.count, name.hasSuffix(suffix), bytes[20] == UInt8(ascii: "-") else {
            return false
        }
        let id = bytes[21..<(bytes.count - suffix.utf8.count)]
        return bytes[..<20].allSatisfy { (0x30...0x39).contains($0) }
            && id.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-")
            }
    }

    /// Whether the directory entry `name` is a file the hook is writing (the daemon skips them).
    package static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(".") }
}

/// What the hook needs to seal an event for the daemon: its public key.
package struct SpoolSealingKey: Sendable {
    /// The raw 32 bytes (the key types of swift-crypto are not `Sendable`).
    private let rawKey: [UInt8]

    /// The key from its raw 32 bytes.
    package init(rawRepresentation: [UInt8]) throws(SpoolError) {
        guard (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: rawRepresentation)) != nil else {
            throw .badKey
        }
        rawKey = rawRepresentation
    }

    /// The sealed file contents for the request line `line`.
    package func seal(_ line: [UInt8]) throws(SpoolError) -> [UInt8] {
        do {
            let publicKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: rawKey)
            var sender = try HPKE.Sender(recipientKey: publicKey, ciphersuite: Spool.ciphersuite, info: Spool.info)
            let sealed = try sender.seal(line)
            return Spool.magic + Array(sender.encapsulatedKey) + Array(sealed)
        } catch {
            throw .badKey
        }
    }
}

/// The daemon's spool key, derived from its redaction key (so there is no second secret to keep).
package struct SpoolOpeningKey: Sendable {
    /// The raw 32 bytes of the private key (the key types of swift-crypto are not `Sendable`).
    /// Any 32 bytes are a valid X25519 private key: they are clamped when used.
    private let rawKey: [UInt8]

    /// The spool key belonging to `redactionKey`.
    package init(redactionKey: RedactionKey) {
        rawKey = redactionKey.derivedKey(purpose: "authsignal spool key v1").withUnsafeBytes { Array($0) }
    }

    private var privateKey: Curve25519.KeyAgreement.PrivateKey {
        guard let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: rawKey) else {
            preconditionFailure("32 bytes are always an X25519 private key")
        }
        return key
    }

    /// The public half's raw 32 bytes, for `public.key`.
    package var publicKeyBytes: [UInt8] { Array(privateKey.publicKey.rawRepresentation) }

    /// The request line sealed in `file`.
    package func open(_ file: [UInt8]) throws(SpoolError) -> [UInt8] {
        let keyLength = 32
        guard file.count > Spool.magic.count + keyLength, file.starts(with: Spool.magic) else { throw .malformed }
        let encapsulated = Data(file[Spool.magic.count..<(Spool.magic.count + keyLength)])
        do {
            var recipient = try HPKE.Recipient(
                privateKey: privateKey, ciphersuite: Spool.ciphersuite, info: Spool.info,
                encapsulatedKey: encapsulated)
            return Array(try recipient.open(file[(Spool.magic.count + keyLength)...]))
        } catch {
            throw .malformed
        }
    }
}

/// Why a spool file could not be written or read. Messages never contain the event.
package enum SpoolError: Error, Equatable, CustomStringConvertible {
    /// The public key is not 32 valid bytes.
    case badKey
    /// The file is not a sealed event for this daemon.
    case malformed
    /// The directory or its public key cannot be trusted (why).
    case untrusted(String)
    /// The spool holds ``Spool/maximumFiles`` files or its file system is nearly full.
    case full(String)
    /// A system call failed.
    case io(String, Int32)

    /// A message for people.
    package var description: String {
        switch self {
        case .badKey: "the spool's public key is not a valid X25519 key"
        case .malformed: "not an event sealed for this daemon"
        case .untrusted(let why): "the spool cannot be trusted: \(why)"
        case .full(let why): "the spool is full: \(why)"
        case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}
