import AuthSignalCore
import Crypto
import Foundation

/// The stored form of a record's fields, exactly as hashed. docs/storage.md specifies the
/// canonical encoding byte by byte so that an outside tool can recompute every hash.
struct StoredFields: Sendable {
    var seq: Int64
    var received: Int64
    var time: Int64?
    var signal: String
    var sender: String
    var user: String?
    var remoteAddr: String?
    /// Canonical JSON text of the redacted request.
    var request: String?
    /// Canonical JSON text of the redacted credentials.
    var credentials: String?
    var peerUID: Int64
    var peerGID: Int64
    var peerPID: Int64
    var idempotencyKey: String?

    init(seq: Int64, received: Int64, event: RedactedEvent) {
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

    init(
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

/// The hash chain: `hash = SHA-256(prev_hash ‖ canonical encoding)`.
enum RecordHash {
    /// The encoding's first bytes, naming its version.
    static let magic = Array("authsignal-record-v1".utf8)

    /// `SHA-256(prevHash ‖ encode(fields))`.
    static func hash(_ fields: StoredFields, prevHash: Data) -> Data {
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
    static func encode(_ fields: StoredFields, into buffer: inout [UInt8]) {
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
