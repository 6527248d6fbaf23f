public import AuthSignalCore
import Crypto
public import Foundation

/// A record's columns exactly as stored and hashed (times in microseconds since the epoch, JSON
/// as canonical text). docs/storage.md specifies the canonical encoding byte by byte so that an
/// outside tool can recompute every hash; bulk loaders (the store benchmark) use this type to
/// write rows that verify.
public struct RecordColumns: Sendable, Hashable {
    /// `seq`.
    public var seq: Int64
    /// `received`, µs since the epoch.
    public var received: Int64
    /// `time`, µs since the epoch.
    public var time: Int64?
    /// `signal`, the wire name.
    public var signal: String
    /// `sender`.
    public var sender: String
    /// `user`.
    public var user: String?
    /// `remote_addr`.
    public var remoteAddr: String?
    /// `request`: canonical JSON text of the redacted request.
    public var request: String?
    /// `credentials`: canonical JSON text of the redacted credentials.
    public var credentials: String?
    /// `peer_uid`.
    public var peerUID: Int64
    /// `peer_gid`.
    public var peerGID: Int64
    /// `peer_pid`.
    public var peerPID: Int64
    /// `idem`, the idempotency key.
    public var idempotencyKey: String?

    /// The columns of `event` stored as record `seq`, received at `received` µs.
    public init(seq: Int64, received: Int64, event: RedactedEvent) {
        self.seq = seq
        self.received = received
        self.time = event.time.map(Microseconds.from)
        self.signal = event.signal.rawValue
        self.sender = event.sender
        self.user = event.user
        self.remoteAddr = event.remoteAddr
        self.request = event.request.map { String(decoding: CanonicalJSON.encode($0), as: UTF8.self) }
        self.credentials = event.credentials.map { String(decoding: CanonicalJSON.encode($0), as: UTF8.self) }
        self.peerUID = Int64(event.peer.uid)
        self.peerGID = Int64(event.peer.gid)
        self.peerPID = Int64(event.peer.pid)
        self.idempotencyKey = event.id
    }

    /// Columns given one by one.
    public init(
        seq: Int64, received: Int64, time: Int64?, signal: String, sender: String, user: String?,
        remoteAddr: String?, request: String?, credentials: String?, peerUID: Int64, peerGID: Int64,
        peerPID: Int64, idempotencyKey: String?
    ) {
        self.seq = seq
        self.received = received
        self.time = time
        self.signal = signal
        self.sender = sender
        self.user = user
        self.remoteAddr = remoteAddr
        self.request = request
        self.credentials = credentials
        self.peerUID = peerUID
        self.peerGID = peerGID
        self.peerPID = peerPID
        self.idempotencyKey = idempotencyKey
    }
}

extension RecordColumns {
    /// The statement that stores a record: its 15 parameters are the columns in declaration
    /// order, then `prev_hash` and `hash`.
    public static let insertSQL = """
        INSERT INTO records (seq, received, time, signal, sender, user, remote_addr, request,
            credentials, peer_uid, peer_gid, peer_pid, idem, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// This record's hash when it follows a record whose hash is `prevHash`.
    public func hash(after prevHash: Data) -> Data { RecordHash.hash(self, prevHash: prevHash) }
}

/// The hash chain: `hash = SHA-256(prev_hash ‖ canonical encoding)`.
enum RecordHash {
    /// The encoding's first bytes, naming its version.
    static let magic = Array("authsignal-record-v1".utf8)

    /// `SHA-256(prevHash ‖ encode(fields))`.
    static func hash(_ fields: RecordColumns, prevHash: Data) -> Data {
        var buffer = [UInt8]()
        buffer.reserveCapacity(256)
        encode(fields, into: &buffer)
        return hash(encoded: buffer, prevHash: prevHash)
    }

    /// `SHA-256(prevHash ‖ encoded)`.
    static func hash(encoded: [UInt8], prevHash: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: prevHash)
        hasher.update(data: encoded)
        return Data(hasher.finalize())
    }

    /// Appends the canonical encoding of `fields` to `buffer`.
    static func encode(_ fields: RecordColumns, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: magic)
        integer(fields.seq, &buffer)
        integer(fields.received, &buffer)
        integer(fields.time, &buffer)
        text(fields.signal, &buffer)
        text(fields.sender, &buffer)
        text(fields.user, &buffer)
        text(fields.remoteAddr, &buffer)
        text(fields.request, &buffer)
        text(fields.credentials, &buffer)
        integer(fields.peerUID, &buffer)
        integer(fields.peerGID, &buffer)
        integer(fields.peerPID, &buffer)
        text(fields.idempotencyKey, &buffer)
    }

    private static func integer(_ value: Int64?, _ buffer: inout [UInt8]) {
        guard let value else {
            buffer.append(0)
            return
        }
        buffer.append(1)
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    private static func text(_ value: String?, _ buffer: inout [UInt8]) {
        guard var value else {
            buffer.append(0)
            return
        }
        buffer.append(2)
        value.withUTF8 { bytes in
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { buffer.append(contentsOf: $0) }
            buffer.append(contentsOf: bytes)
        }
    }
}
