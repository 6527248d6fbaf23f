import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDBSQLite
import TestSupport
import Testing

@testable import AuditStore

/// Edits the database behind the store's back, through the sqlite3 C API as an attacker would.
func tamper(_ path: String, _ sql: String) throws {
    var handle: OpaquePointer?
    guard sqlite3_open(path, &handle) == SQLITE_OK else { throw StoreError.open("tamper: cannot open") }
    defer { sqlite3_close(handle) }
    // The store's writer may be merging indexes right now: wait for its lock like a patient attacker.
    sqlite3_busy_timeout(handle, 10_000)
    var message: UnsafeMutablePointer<CChar>?
    let code = sqlite3_exec(handle, sql, nil, nil, &message)
    if code != SQLITE_OK {
        let text = message.map { String(cString: $0) } ?? "error \(code)"
        sqlite3_free(message)
        throw StoreError.open("tamper: \(text)")
    }
}

@Suite("Audit store: hash chain and tampering")
struct ChainTests {
    static func chain(_ count: Int = 10, parallelFrom: Int = 50_000) async throws -> (
        TemporaryDirectory, String, AuditStore
    ) {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var options = StoreOptions()
        options.parallelVerifyThreshold = parallelFrom
        let store = try AuditStore(path: path, options: options)
        for index in 0..<count { try await store.append(Events.make(user: "u\(index)")) }
        return (directory, path, store)
    }

    @Test func anUntouchedChainVerifiesAndItsHashesFollowTheDocumentedEncoding() async throws {
        let (directory, _, store) = try await Self.chain()
        _ = directory
        let report = try await store.verify()
        #expect(report.ok)
        #expect(report.checked == 10)
        #expect(report.first == 1 && report.last == 10)
        // Recompute record 1 from docs/storage.md: SHA-256(32 zero bytes ‖ encoding).
        let record = try await store.all()[0]
        var encoding = Array("authsignal-record-v1".utf8)
        func integer(_ value: Int64) { encoding.append(1); withUnsafeBytes(of: value.bigEndian) { encoding += $0 } }
        func text(_ value: String?) {
            guard let value else { return encoding.append(0) }
            encoding.append(2)
            withUnsafeBytes(of: UInt32(value.utf8.count).bigEndian) { encoding += $0 }
            encoding += Array(value.utf8)
        }
        integer(1)
        integer(Int64((record.received.timeIntervalSince1970 * 1_000_000).rounded()))
        encoding.append(0)  // no source time
        text("user_login_failed")
        text("sshd")
        text("u0")
        text("203.0.113.9")
        text(String(decoding: CanonicalJSON.encode(record.request!), as: UTF8.self))
        text(String(decoding: CanonicalJSON.encode(record.credentials!), as: UTF8.self))
        integer(1000)
        integer(1000)
        integer(4242)
        text(nil)
        #expect(RecordHash.hash(encoded: encoding, prevHash: Data(count: 32)) == record.hash)
    }

    /// The writer hashes and binds from the appender's encoding of the columns after seq and
    /// received: the same bytes the full encoding of the stored row gives, and the same values
    /// read back, for empty, non-ASCII and absent values alike. The appender encodes straight from
    /// the event: the same bytes as from the event's columns.
    @Test func theAppendersEncodingStoresAndHashesWhatTheFullEncodingDoes() async throws {
        #expect(RecordLayout.hashed.prefix(EncodedColumns.assigned).map(\.name) == ["seq", "received"])
        #expect(RecordLayout.hashed.dropFirst(EncodedColumns.assigned).map(\.name) == EncodedColumns.eventColumns)
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        let events = [
            Events.make(.userLoggedIn, user: "", sender: "", address: nil),
            Events.make(user: "tab\tinside", address: "", id: "id-ü-1"),
            Events.make(.userLoggedOut, user: "zoë 🦊", sender: "gdm-password", time: Date(timeIntervalSince1970: 1e9)),
        ]
        for event in events { try await store.append(event) }
        let records = try await store.all()
        #expect(records.map(\.user) == events.map(\.user))
        #expect(records.map(\.sender) == events.map(\.sender))
        #expect(records.map(\.remoteAddr) == events.map(\.remoteAddr))
        #expect(records.map(\.idempotencyKey) == events.map(\.id))
        var previous = Data(count: 32)
        for record in records {
            let columns = RecordColumns(
                seq: record.seq, received: Microseconds.from(record.received), event: events[Int(record.seq) - 1])
            #expect(EncodedColumns(events[Int(record.seq) - 1]).bytes == EncodedColumns(columns).bytes)
            let viaEncoding = RecordHash.hash(
                seq: columns.seq, received: columns.received, EncodedColumns(columns), prevHash: previous)
            #expect(viaEncoding == RecordHash.hash(columns, prevHash: previous))
            #expect(viaEncoding == record.hash)
            previous = record.hash
        }
        #expect(try await store.verify().ok)
        try await store.close()
    }

    @Test(arguments: [3, 20, 21, 22, 39])
    func segmentsVerifiedInParallelStillNameTheFirstBadSeq(_ bad: Int) async throws {
        // 40 records verified in two segments (21–40 after 1–20); damage at, around and away from
        // the boundary.
        let (directory, path, store) = try await Self.chain(40, parallelFrom: 10)
        _ = directory
        let clean = try await store.verify()
        #expect(clean.ok && clean.checked == 40 && clean.first == 1 && clean.last == 40)
        try tamper(path, "UPDATE records SET sender = 'forged' WHERE seq = \(bad)")
        #expect(try await store.verify().problem == ChainProblem(seq: Int64(bad), kind: .edited))
        try tamper(path, "DELETE FROM records WHERE seq = \(bad)")
        #expect(try await store.verify().problem == ChainProblem(seq: Int64(bad), kind: .deleted(through: Int64(bad))))
    }

    @Test func anEditedFieldIsNamed() async throws {
        let (directory, path, store) = try await Self.chain()
        _ = directory
        try tamper(path, "UPDATE records SET user = 'mallory' WHERE seq = 4")
        #expect(try await store.verify().problem == ChainProblem(seq: 4, kind: .edited))
    }

    @Test func aDeletedMiddleRecordIsNamed() async throws {
        let (directory, path, store) = try await Self.chain()
        _ = directory
        try tamper(path, "DELETE FROM records WHERE seq = 5")
        #expect(try await store.verify().problem == ChainProblem(seq: 5, kind: .deleted(through: 5)))
    }

    @Test func aForgedRecordIsNamed() async throws {
        let (directory, path, store) = try await Self.chain()
        _ = directory
        // A forger who cannot compute hashes appends a record: caught at the forged seq.
        try tamper(
            path,
            """
            INSERT INTO records (seq, received, signal, sender, user, peer_uid, peer_gid, peer_pid, prev_hash, hash)
            SELECT 11, received + 1, signal, sender, 'ghost', 0, 0, 1, hash, randomblob(32) FROM records WHERE seq = 10
            """)
        #expect(try await store.verify().problem == ChainProblem(seq: 11, kind: .edited))
    }

    @Test func aRecordInsertedInTheMiddleWithAValidHashBreaksTheNextLink() async throws {
        let (directory, path, store) = try await Self.chain()
        _ = directory
        // A forger who can hash shifts records 7… up and slips a well-formed record in at 7,
        // chained to record 6: the record after it no longer follows.
        let records = try await store.all()
        var forged = RecordColumns(
            seq: 7, received: Microseconds.from(records[5].received), event: Events.make(user: "ghost"))
        forged.idempotencyKey = nil
        let hash = RecordHash.hash(forged, prevHash: records[5].hash)
        try tamper(path, "UPDATE records SET seq = -seq WHERE seq >= 7; UPDATE records SET seq = 1 - seq WHERE seq < 0")
        try tamper(
            path,
            """
            INSERT INTO records (seq, received, signal, sender, user, remote_addr, request, credentials,
                peer_uid, peer_gid, peer_pid, prev_hash, hash)
            VALUES (7, \(forged.received), '\(forged.signal)', '\(forged.sender)', 'ghost', '\(forged.remoteAddr!)',
                '\(forged.request!)', '\(forged.credentials!)', 1000, 1000, 4242,
                x'\(records[5].hash.hexString)', x'\(hash.hexString)')
            """)
        let problem = try await store.verify().problem
        // Record 8 (the old 7) now carries seq 8 and follows record 6, not the forged 7.
        #expect(problem == ChainProblem(seq: 8, kind: .brokenLink))
    }

    @Test func swappedRecordsAreNamed() async throws {
        let (directory, path, store) = try await Self.chain()
        _ = directory
        try tamper(
            path,
            """
            UPDATE records SET seq = -3 WHERE seq = 3;
            UPDATE records SET seq = 3 WHERE seq = 8;
            UPDATE records SET seq = 8 WHERE seq = -3;
            """)
        #expect(try await store.verify().problem == ChainProblem(seq: 3, kind: .brokenLink))
    }

    @Test func anchorsDetectTruncationAndARewrittenTail() async throws {
        let (directory, path, store) = try await Self.chain()
        _ = directory
        let anchor = store.chainHead()
        #expect(try await store.verify(anchors: [anchor]).ok)
        try tamper(path, "DELETE FROM records WHERE seq > 8")
        #expect(
            try await store.verify(anchors: [anchor]).problem == ChainProblem(seq: 9, kind: .truncated(anchored: 10)))
        // Without the anchor the shortened chain is self-consistent: only anchors catch it.
        #expect(try await store.verify().ok)
        let records = try await store.all()
        #expect(
            try await store.verify(anchors: [ChainHead(seq: 8, hash: Data(repeating: 1, count: 32))]).problem
                == ChainProblem(seq: 8, kind: .anchorMismatch))
        #expect(try await store.verify(from: 5, to: 8).checked == 4)
        #expect(records.count == 8)
    }
}
