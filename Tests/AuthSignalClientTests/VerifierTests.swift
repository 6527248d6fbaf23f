import AuditJournal
import AuditStore
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Systemd
import TestSupport
import Testing

/// `verify --database` in process: a real audit log file, and chain anchors in journal files
/// written by systemd-journal-remote as a collector receives them from the daemon's unit.
@Suite struct VerifierTests {
    /// An audit log of ten records in `directory`, and the hash of each by seq.
    static func log(in directory: TemporaryDirectory) async throws -> (
        path: String, logID: String, hashes: [Int64: [UInt8]]
    ) {
        let path = directory.file("audit.db")
        let store = try AuditStore(path: path)
        let redactor = Redactor(mode: .hmac, key: try RedactionKey(bytes: Array(repeating: 3, count: 32)))
        for index in 0..<10 {
            let event = AuthEvent(
                signal: .userLoggedIn, sender: "sshd", user: "root", request: nil, credentials: nil, time: nil,
                id: "verify-\(index)")
            try await store.append(redactor.redact(event, peer: PeerCredentials(uid: 0, gid: 0, pid: 1)))
        }
        var hashes: [Int64: [UInt8]] = [:]
        for try await record in store.records(matching: RecordFilter()) { hashes[record.seq] = Array(record.hash) }
        let logID = store.logID
        try await store.close()
        return (path, logID, hashes)
    }

    /// A collector's directory holding the daemon's anchors `(seq, hash)` of log `logID`.
    static func anchors(_ anchors: [(Int64, [UInt8])], logID: String, in directory: TemporaryDirectory) throws
        -> JournalHistory
    {
        try FileManager.default.createDirectory(atPath: directory.file("remote"), withIntermediateDirectories: true)
        let entries = anchors.map { seq, hash in
            var fields: [String: String] = [
                JournalFieldName.systemdUnit.name: TrustedJournalWriter.serviceUnit, "_HOSTNAME": "host1",
            ]
            for field in AuditJournal.anchorEntry(seq: seq, hash: hash, logID: logID).fields {
                fields[field.name.name] = String(decoding: field.value, as: UTF8.self)
            }
            return fields
        }
        try writeJournalFile(directory.file("remote/remote-host1.journal"), entries: entries)
        return try JournalHistory(directory: directory.file("remote"))
    }

    @Test func anIntactLogAgreesWithItsAnchors() async throws {
        let directory = try TemporaryDirectory()
        let (path, logID, hashes) = try await Self.log(in: directory)
        let journal = try Self.anchors([(5, hashes[5]!), (10, hashes[10]!)], logID: logID, in: directory)
        let result = try await Verifier.verify(database: path, from: nil, to: nil, journal: journal)
        #expect(result.valid && result.checked == 10, "\(String(describing: result.problem))")
        #expect(result.anchorsFound == 2 && result.latestAnchor == 10 && result.anchorHost == "host1")
        #expect(result.logID == logID)
        // Anchors of another log are not this one's.
        let other = try await Verifier.verify(
            database: path, from: nil, to: nil,
            journal: try Self.anchors(
                [(5, Array(repeating: 0, count: 32))], logID: "another-log", in: TemporaryDirectory()))
        #expect(other.valid && other.anchorsFound == 0)
    }

    @Test func aRewrittenChainAndACutLogAreCaughtByTheAnchors() async throws {
        let directory = try TemporaryDirectory()
        let (path, logID, hashes) = try await Self.log(in: directory)
        // The journal saw another hash at seq 7: the chain was rewritten since.
        var rewritten = hashes[7]!
        rewritten[0] ^= 0xFF
        let mismatch = try await Verifier.verify(
            database: path, from: nil, to: nil,
            journal: try Self.anchors([(3, hashes[3]!), (7, rewritten)], logID: logID, in: directory))
        #expect(!mismatch.valid && mismatch.problem?.seq == 7, "\(String(describing: mismatch.problem))")
        // The journal saw record 12 of a log that now ends at 10: it was cut.
        let cut = try await Verifier.verify(
            database: path, from: nil, to: nil,
            journal: try Self.anchors([(12, Array(repeating: 1, count: 32))], logID: logID, in: TemporaryDirectory()))
        #expect(!cut.valid && cut.problem?.description.contains("12") == true, "\(String(describing: cut.problem))")
        // A range before the anchor leaves it out.
        let early = try await Verifier.verify(
            database: path, from: 1, to: 6,
            journal: try Self.anchors([(7, rewritten)], logID: logID, in: TemporaryDirectory()))
        #expect(early.valid && early.anchorsFound == 0)
    }
}
