public import AuthSignalCore
public import Foundation

/// One committed audit record: the system of record for one auth event.
public struct AuditRecord: Sendable, Hashable {
    /// The record's sequence number: monotonic, never reused, contiguous unless pruned.
    public let seq: Int64
    /// When the daemon stored it (microsecond resolution, never earlier than the previous record).
    public let received: Date
    /// When it happened at the source, if the source said.
    public let time: Date?
    /// The auth signal.
    public let signal: AuthSignal
    /// Who reported it.
    public let sender: String
    /// The account (keyed-hashed for unknown accounts of failed logins).
    public let user: String?
    /// `request.remote_addr`, when it is a string.
    public let remoteAddr: String?
    /// The request, redacted.
    public let request: JSONObject?
    /// The credentials, redacted.
    public let credentials: JSONObject?
    /// Who sent it, as the kernel reported.
    public let peer: PeerCredentials
    /// The client's idempotency key.
    public let idempotencyKey: String?
    /// The previous record's hash (the anchor's, or 32 zero bytes, for the first).
    public let prevHash: Data
    /// SHA-256 of `prevHash` followed by the record's canonical encoding (docs/storage.md).
    public let hash: Data
}

extension AuditRecord {
    /// The record of `event` stored as `seq` (for code that builds records without a store).
    package init(event: RedactedEvent, seq: Int64, received: Date, prevHash: Data, hash: Data) {
        self.init(
            seq: seq, received: received, time: event.time, signal: event.signal, sender: event.sender,
            user: event.user, remoteAddr: event.remoteAddr, request: event.request, credentials: event.credentials,
            peer: event.peer, idempotencyKey: event.id, prevHash: prevHash, hash: hash)
    }
}

/// A record's seq and hash: the chain head, or an anchor written elsewhere (the journal).
public struct ChainHead: Sendable, Hashable, Codable {
    /// The record's seq; 0 with the genesis hash when nothing was ever stored.
    public let seq: Int64
    /// The record's hash.
    public let hash: Data

    /// Creates a chain head.
    public init(seq: Int64, hash: Data) {
        self.seq = seq
        self.hash = hash
    }

    /// The head of an empty log.
    public static let genesis = ChainHead(seq: 0, hash: Data(count: 32))

    /// The hash in lower-case hexadecimal.
    public var hashHex: String { hash.hexString }
}

extension Data {
    /// The bytes in lower-case hexadecimal.
    var hexString: String { Hex.encode(self) }
}

/// A time as stored: integer microseconds since 1970-01-01T00:00:00Z.
enum Microseconds {
    static func from(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
    }

    static func date(_ value: Int64) -> Date {
        Date(timeIntervalSince1970: Double(value) / 1_000_000)
    }
}
