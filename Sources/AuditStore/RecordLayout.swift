package import AuthSignalCore
import AuthSignalProtocol
import Crypto
package import Foundation
import GRDB
import GRDBSQLite

/// A record's columns exactly as stored and hashed (times in microseconds since the epoch, JSON
/// as canonical text). docs/storage.md specifies the canonical encoding byte by byte so that an
/// outside tool can recompute every hash; bulk loaders (the store benchmark) use this type to
/// write rows that verify.
///
/// Which column each property is, and in what order, is declared once, in ``RecordLayout``.
package struct RecordColumns: Sendable, Hashable {
    package var seq: Int64 = 0
    /// µs since the epoch.
    package var received: Int64 = 0
    /// µs since the epoch.
    package var time: Int64?
    /// The signal's wire name.
    package var signal = ""
    package var sender = ""
    package var user: String?
    package var remoteAddr: String?
    /// Canonical JSON text of the redacted request.
    package var request: String?
    /// Canonical JSON text of the redacted credentials.
    package var credentials: String?
    package var peerUID: Int64 = 0
    package var peerGID: Int64 = 0
    package var peerPID: Int64 = 0
    package var idempotencyKey: String?

    /// The columns of `event` stored as record `seq`, received at `received` µs.
    package init(seq: Int64, received: Int64, event: RedactedEvent) {
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

    /// No values yet: filled column by column from a row.
    fileprivate init() {}

    /// This record's hash when it follows a record whose hash is `prevHash`.
    package func hash(after prevHash: Data) -> Data { RecordHash.hash(self, prevHash: prevHash) }
}

/// The layout of the `records` table, declared once: the insert statement, every select list,
/// binding, reading a row and the canonical encoding the chain hashes all follow ``hashed``
/// (columns of the same ``TableColumn`` kind as the derived tables' layouts; the chain's own
/// two columns follow them).
/// Adding a column means adding it there (and to ``RecordColumns``), plus a migration and a new
/// encoding version in docs/storage.md.
package enum RecordLayout {
    /// The hashed columns, in table order, which is also the canonical encoding's order.
    package static let hashed: [TableColumn<RecordColumns>] = [
        TableColumn("seq", .integer(\.seq)),
        TableColumn("received", .integer(\.received)),
        TableColumn("time", .optionalInteger(\.time)),
        TableColumn("signal", .text(\.signal)),
        TableColumn("sender", .text(\.sender)),
        TableColumn("user", .optionalText(\.user)),
        TableColumn("remote_addr", .optionalText(\.remoteAddr)),
        TableColumn("request", .optionalText(\.request)),
        TableColumn("credentials", .optionalText(\.credentials)),
        TableColumn("peer_uid", .integer(\.peerUID)),
        TableColumn("peer_gid", .integer(\.peerGID)),
        TableColumn("peer_pid", .integer(\.peerPID)),
        TableColumn("idem", .optionalText(\.idempotencyKey)),
    ]

    /// The chain's own columns follow the hashed ones: `prev_hash`, then `hash` (0-based).
    package static let prevHashIndex = hashed.count
    package static let hashIndex = hashed.count + 1

    /// Every column's name, in table order.
    static let names = hashed.map(\.name) + ["prev_hash", "hash"]

    /// Whether each hashed column holds integers, by index: the hot loops read this, not keys.
    static let integerColumns = hashed.map(\.isInteger)

    /// The statement that stores a record: its parameters are the columns in table order.
    package static let insertSQL =
        "INSERT INTO records (\(names.joined(separator: ", "))) VALUES ("
        + Array(repeating: "?", count: names.count).joined(separator: ", ") + ")"

    /// Every column, in table order, for a select list (`prefix` names the table, as `"r."`).
    static func selectList(prefix: String = "") -> String {
        names.map { prefix + $0 }.joined(separator: ", ")
    }

    /// The columns of a row selected with ``selectList(prefix:)``, and its chain hashes.
    static func columns(of row: Row) -> (columns: RecordColumns, prevHash: Data, hash: Data) {
        var columns = RecordColumns()
        for (index, column) in hashed.enumerated() {
            switch column.property {
            case .integer(let key): columns[keyPath: key] = row[index] as Int64
            case .optionalInteger(let key): columns[keyPath: key] = row[index] as Int64?
            case .text(let key): columns[keyPath: key] = row[index] as String
            case .optionalText(let key): columns[keyPath: key] = row[index] as String?
            case .flag(let key): columns[keyPath: key] = (row[index] as Int64) != 0
            }
        }
        return (columns, row[prevHashIndex] as Data, row[hashIndex] as Data)
    }
}

/// Where the canonical encoder reads a record's hashed columns from, by their index in
/// ``RecordLayout/hashed``: a ``RecordColumns`` value, or a SQLite row read in place.
package protocol RecordColumnSource {
    /// The integer in hashed column `index`, or `nil` for NULL.
    func integer(at index: Int) -> Int64?
    /// Calls `body` with the UTF-8 bytes of the text in hashed column `index`, or `nil` for NULL.
    func withText(at index: Int, _ body: (UnsafeBufferPointer<UInt8>?) -> Void)
}

extension RecordColumns: RecordColumnSource {
    package func integer(at index: Int) -> Int64? {
        switch RecordLayout.hashed[index].property {
        case .integer(let key): self[keyPath: key]
        case .optionalInteger(let key): self[keyPath: key]
        case .flag(let key): self[keyPath: key] ? 1 : 0
        case .text, .optionalText: nil
        }
    }

    package func withText(at index: Int, _ body: (UnsafeBufferPointer<UInt8>?) -> Void) {
        let value: String? =
            switch RecordLayout.hashed[index].property {
            case .text(let key): self[keyPath: key]
            case .optionalText(let key): self[keyPath: key]
            case .integer, .optionalInteger, .flag: nil
            }
        guard var value else { return body(nil) }
        value.withUTF8 { body($0) }
    }
}

/// The current row of a stepped SQLite statement whose select list is
/// ``RecordLayout/selectList(prefix:)``, read straight from SQLite's buffers.
struct StatementRow: RecordColumnSource {
    let handle: OpaquePointer?

    func integer(at index: Int) -> Int64? {
        let column = Int32(index)
        if sqlite3_column_type(handle, column) == SQLITE_NULL { return nil }
        return sqlite3_column_int64(handle, column)
    }

    func withText(at index: Int, _ body: (UnsafeBufferPointer<UInt8>?) -> Void) {
        let column = Int32(index)
        if sqlite3_column_type(handle, column) == SQLITE_NULL { return body(nil) }
        let pointer = sqlite3_column_text(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        body(UnsafeBufferPointer(start: pointer ?? UnsafePointer(bitPattern: 1), count: pointer == nil ? 0 : count))
    }

    /// The text in column `index`, or `nil` for NULL.
    func text(at index: Int) -> String? {
        var text: String?
        withText(at: index) { bytes in text = bytes.map { String(decoding: $0, as: UTF8.self) } }
        return text
    }

    /// The blob in column `index` (0-based over the whole select list), valid until the next step.
    func blob(at index: Int) -> UnsafeRawBufferPointer {
        let column = Int32(index)
        return UnsafeRawBufferPointer(
            start: sqlite3_column_blob(handle, column), count: Int(sqlite3_column_bytes(handle, column)))
    }
}

/// The hash chain: `hash = SHA-256(prev_hash ‖ canonical encoding)`, the encoding being each
/// hashed column in ``RecordLayout`` order, tagged (docs/storage.md).
package enum RecordHash {
    /// The encoding's first bytes, naming its version.
    static let magic = Array("authsignal-record-v1".utf8)

    /// `SHA-256(prevHash ‖ encode(columns))`.
    static func hash(_ columns: RecordColumns, prevHash: Data) -> Data {
        var buffer = [UInt8]()
        buffer.reserveCapacity(256)
        encode(columns, into: &buffer)
        return hash(encoded: buffer, prevHash: prevHash)
    }

    /// `SHA-256(prevHash ‖ encoded)`.
    static func hash(encoded: [UInt8], prevHash: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: prevHash)
        hasher.update(data: encoded)
        return Data(hasher.finalize())
    }

    /// The hash of record `seq`, received at `received` µs, whose other columns are `encoded`:
    /// the same bytes as ``hash(_:prevHash:)`` hashes, without encoding the columns again.
    static func hash(seq: Int64, received: Int64, _ encoded: EncodedColumns, prevHash: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: prevHash)
        var head = magic
        head.reserveCapacity(magic.count + 18)
        appendInteger(seq, to: &head)
        appendInteger(received, to: &head)
        hasher.update(data: head)
        hasher.update(data: encoded.bytes)
        return Data(hasher.finalize())
    }

    /// Appends the canonical encoding of the record in `source` to `buffer`: the magic, then
    /// each hashed column as `0` (NULL), `1` and a big-endian Int64, or `2`, a big-endian UInt32
    /// length and the UTF-8 bytes.
    static func encode(_ source: some RecordColumnSource, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: magic)
        encode(source, columns: RecordLayout.hashed.indices, into: &buffer)
    }

    /// Appends the encoding of the hashed columns at `indices` (without the magic).
    static func encode(_ source: some RecordColumnSource, columns indices: Range<Int>, into buffer: inout [UInt8]) {
        for index in indices {
            if RecordLayout.integerColumns[index] {
                appendInteger(source.integer(at: index), to: &buffer)
            } else {
                source.withText(at: index) { appendText($0, to: &buffer) }
            }
        }
    }

    /// Appends an integer column: `0` for NULL, else `1` and the big-endian Int64.
    static func appendInteger(_ value: Int64?, to buffer: inout [UInt8]) {
        guard let value else { return buffer.append(0) }
        buffer.append(1)
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    /// Appends a text column: `0` for NULL, else `2`, the big-endian UInt32 length and the bytes.
    static func appendText(_ bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(2)
        withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: bytes)
    }

    static func appendText(_ bytes: UnsafeBufferPointer<UInt8>?, to buffer: inout [UInt8]) {
        guard let bytes else { return buffer.append(0) }
        appendText(bytes, to: &buffer)
    }
}

/// A record's hashed columns after `seq` and `received`, in their canonical encoding, made once
/// by the appender: the writer, whose thread every record passes through, only adds the seq and
/// the received time it assigns, hashes, and binds the columns from these bytes.
package struct EncodedColumns: Sendable {
    /// The columns that the writer assigns, which lead the layout.
    static let assigned = 2
    /// The encoding of hashed columns `assigned...` (see ``RecordHash/encode(_:into:)``).
    let bytes: [UInt8]

    /// Encodes the columns of `columns` that the writer does not assign.
    package init(_ columns: RecordColumns) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        RecordHash.encode(columns, columns: Self.assigned..<RecordLayout.hashed.count, into: &bytes)
        self.bytes = bytes
    }

    /// The names of the columns ``init(_:)-(RedactedEvent)`` writes, in the order it writes them:
    /// ``RecordLayout/hashed`` after the assigned ones (a test holds the two equal).
    static let eventColumns = [
        "time", "signal", "sender", "user", "remote_addr", "request", "credentials", "peer_uid", "peer_gid",
        "peer_pid", "idem",
    ]

    /// Encodes `event`'s columns straight from the event, what every append does: the same bytes
    /// as encoding its ``RecordColumns``, without making them first (that copied the request and
    /// credentials' JSON into strings, then into the encoding).
    init(_ event: RedactedEvent) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        RecordHash.appendInteger(event.time.map(Microseconds.from), to: &bytes)
        Self.text(event.signal.rawValue, to: &bytes)
        Self.text(event.sender, to: &bytes)
        Self.text(event.user, to: &bytes)
        Self.text(event.remoteAddr, to: &bytes)
        Self.json(event.request, to: &bytes)
        Self.json(event.credentials, to: &bytes)
        RecordHash.appendInteger(Int64(event.peer.uid), to: &bytes)
        RecordHash.appendInteger(Int64(event.peer.gid), to: &bytes)
        RecordHash.appendInteger(Int64(event.peer.pid), to: &bytes)
        Self.text(event.id, to: &bytes)
        self.bytes = bytes
    }

    private static func text(_ value: String?, to bytes: inout [UInt8]) {
        guard let value else { return bytes.append(0) }
        RecordHash.appendText(value.utf8, to: &bytes)
    }

    /// A text column holding `object`'s canonical JSON, encoded in place with its length after.
    private static func json(_ object: JSONObject?, to bytes: inout [UInt8]) {
        guard let object else { return bytes.append(0) }
        bytes.append(2)
        let lengthAt = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        CanonicalJSON.append(.object(object), to: &bytes)
        let length = UInt32(bytes.count - lengthAt - 4).bigEndian
        withUnsafeBytes(of: length) { bytes.replaceSubrange(lengthAt..<lengthAt + 4, with: $0) }
    }
}

/// Binds a record to the parameters of ``RecordLayout/insertSQL`` prepared through SQLite's C API.
package enum RecordBinding {
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Binds record `seq`, received at `received` µs, its `encoded` columns and its chain hashes:
    /// each tagged value of the encoding is bound to the next parameter.
    package static func bind(
        seq: Int64, received: Int64, _ encoded: EncodedColumns, prevHash: Data, hash: Data, to handle: OpaquePointer?
    ) {
        sqlite3_bind_int64(handle, 1, seq)
        sqlite3_bind_int64(handle, 2, received)
        encoded.bytes.withUnsafeBufferPointer { bytes in
            var offset = 0
            var parameter = Int32(EncodedColumns.assigned + 1)
            while offset < bytes.count {
                let tag = bytes[offset]
                offset += 1
                switch tag {
                case 1:
                    sqlite3_bind_int64(handle, parameter, Int64(bigEndian: read(bytes, at: offset)))
                    offset += 8
                case 2:
                    let count = Int(UInt32(bigEndian: read(bytes, at: offset)))
                    offset += 4
                    let text = UnsafeRawPointer(bytes.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
                    sqlite3_bind_text(handle, parameter, text, Int32(count), transient)
                    offset += count
                default:
                    sqlite3_bind_null(handle, parameter)
                }
                parameter += 1
            }
        }
        blob(prevHash, Int32(RecordLayout.prevHashIndex + 1), handle)
        blob(hash, Int32(RecordLayout.hashIndex + 1), handle)
    }

    private static func read<Value: FixedWidthInteger>(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> Value {
        UnsafeRawPointer(bytes.baseAddress! + offset).loadUnaligned(as: Value.self)
    }

    private static func blob(_ value: Data, _ parameter: Int32, _ handle: OpaquePointer?) {
        value.withUnsafeBytes { bytes in
            _ = sqlite3_bind_blob(handle, parameter, bytes.baseAddress, Int32(bytes.count), transient)
        }
    }
}
