import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Logging
import Systemd
import TestSupport
import Testing

@Suite("Journal")
struct JournalTests {
    @Test func fieldNamesAreValidatedAndInvalidOnesAreErrors() throws {
        for valid in ["MESSAGE", "AUTHSIGNAL_PEER_UID", "A", "X" + String(repeating: "9", count: 63)] {
            #expect(throws: Never.self) { try JournalFieldName(valid) }
        }
        for invalid in ["", "_PID", "message", "9LIVES", "AUTH-SIGNAL", "A B", "X" + String(repeating: "9", count: 64)]
        {
            #expect(throws: JournalError.invalidFieldName(invalid)) { try JournalFieldName(invalid) }
        }
        #expect(JournalFieldName.sanitizing("request-id").name == "REQUEST_ID")
        #expect(JournalFieldName.sanitizing("_private").name == "F__PRIVATE")
        #expect(JournalFieldName.sanitizing("2fa").name == "F_2FA")
        #expect(JournalFieldName.isValid(JournalFieldName.sanitizing(String(repeating: "x", count: 100)).name))
    }

    @Test func entriesKeepEveryFieldWithMultiLineAndBinaryValuesIntact() async throws {
        try requireJournald()
        let id = UUID().uuidString
        let binary: [UInt8] = [0x00, 0xFF, 0xFE, 0x41, 0x0A, 0x00, 0x42]
        var entry = JournalEntry()
        entry.append(try JournalFieldName("MESSAGE"), "first line\nsecond line")
        entry.append(try JournalFieldName("SYSLOG_IDENTIFIER"), "authsignal-test")
        entry.append(try JournalFieldName("AUTHSIGNAL_TEST_ID"), id)
        entry.append(try JournalFieldName("AUTHSIGNAL_BINARY"), bytes: binary)
        try JournalWriter().send(entry)

        let json = try #require(try await journalEntry(tagged: id))
        #expect(json["MESSAGE"] as? String == "first line\nsecond line")
        #expect((json["AUTHSIGNAL_BINARY"] as? [Int])?.map(UInt8.init) == binary)
        #expect(json["SYSLOG_IDENTIFIER"] as? String == "authsignal-test")

        let reader = try JournalReader()
        try reader.match(try JournalFieldName("AUTHSIGNAL_TEST_ID"), id)
        let entries = try reader.entries()
        #expect(entries.count == 1)
        #expect(entries.first?["AUTHSIGNAL_BINARY"] == binary)
        #expect(entries.first?["MESSAGE"] == Array("first line\nsecond line".utf8))
    }

    /// The non-blocking sender speaks journald's native protocol: a real journald keeps a
    /// multi-line and a binary value intact.
    @Test func theDatagramSenderIsReadByARealJournald() async throws {
        try requireJournald()
        let id = UUID().uuidString
        let binary: [UInt8] = [0x00, 0xFF, 0x0A, 0x41]
        var entry = JournalEntry()
        entry.append(try JournalFieldName("MESSAGE"), "first line\nsecond line")
        entry.append(try JournalFieldName("SYSLOG_IDENTIFIER"), "authsignal-test")
        entry.append(try JournalFieldName("AUTHSIGNAL_TEST_ID"), id)
        entry.append(try JournalFieldName("AUTHSIGNAL_BINARY"), bytes: binary)
        #expect(JournalDatagramSender().send(entry))
        let json = try #require(try await journalEntry(tagged: id))
        #expect(json["MESSAGE"] as? String == "first line\nsecond line")
        #expect((json["AUTHSIGNAL_BINARY"] as? [Int])?.map(UInt8.init) == binary)
    }

    /// A journald that does not read (stopped, frozen) once held a thread for as long as it
    /// stayed so (issue 24, item 5). The sender drops and counts instead, at once.
    @Test func theDatagramSenderNeverWaitsForAJournaldThatDoesNotRead() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/journal.sock"
        let stalled = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(stalled) }
        try #require(withUnixAddress(path) { bind(stalled, $0, $1) } == 0)
        let sender = JournalDatagramSender(path: path)
        var entry = JournalEntry()
        entry.append(try JournalFieldName("MESSAGE"), String(repeating: "x", count: 1000))
        let start = ContinuousClock.now
        var taken = 0
        for _ in 0..<5000 where sender.send(entry) { taken += 1 }
        let elapsed = ContinuousClock.now - start
        #expect(taken > 0 && taken < 5000, "journald's queue took \(taken)")
        #expect(sender.dropped == 5000 - taken)
        // Nothing waited: 5,000 sends, most of them refused at once.
        #expect(elapsed < .seconds(5), "took \(elapsed)")
        // No journald at all: dropped and counted too.
        let absent = JournalDatagramSender(path: directory.path + "/none.sock")
        #expect(!absent.send(entry) && absent.dropped == 1)
    }

    @Test func withoutJournaldTheWriterReportsFailureInsteadOfSuccess() async throws {
        // Hide the journal's sockets in a private mount namespace, then send.
        let result = try await run(
            "/usr/bin/unshare",
            [
                "--mount", "/bin/sh", "-c",
                "mkdir -p /run/systemd/journal && mount -t tmpfs tmpfs /run/systemd/journal && exec \"$0\" journal-send",
                probePath,
            ])
        if result.output.contains("unshare failed") || result.output.contains("mount:") {
            try Test.cancel("cannot create a mount namespace here (needs root): \(result.output)")
        }
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("journal unavailable"), "\(result.output)")
    }

    @Test func logEventsBecomeStructuredEntries() throws {
        let event = LogEvent(
            level: .warning, message: "reload failed", metadata: ["config-file": "/etc/authsignald.conf"], source: nil,
            file: "Daemon/Reload.swift", function: "reload()", line: 42)
        let entry = JournalLogHandler.entry(for: event, identifier: "authsignald", metadata: ["pid": "7"])
        #expect(entry[try JournalFieldName("MESSAGE")] == "reload failed")
        #expect(entry[try JournalFieldName("PRIORITY")] == "4")
        #expect(entry[try JournalFieldName("SYSLOG_IDENTIFIER")] == "authsignald")
        #expect(entry[try JournalFieldName("CONFIG_FILE")] == "/etc/authsignald.conf")
        #expect(entry[try JournalFieldName("PID")] == "7")
        #expect(entry[try JournalFieldName("CODE_LINE")] == "42")
        #expect(entry.fields.allSatisfy { JournalFieldName.isValid($0.name.name) })
    }
}

/// A journal file journald shrinks under a reader (systemd#24320, #33277): without a handler the
/// reader's next access past the new end kills the process with SIGBUS, as journalctl's would
/// without its own.
@Suite struct ShrinkingJournalTests {
    @Test func aFileThatShrinksUnderTheReaderIsAnErrorNotACrash() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("remote-test.journal")
        try writeJournalFile(path, numbers: 0..<20_000)
        let reader = try JournalReader(files: [path])
        for _ in 0..<1_000 { #expect(try reader.next() != nil) }
        // What journald does to an archived file (systemd 252) or, without hole punching, to a
        // vacuumed one: the data this reader has not reached yet is gone.
        #expect(truncate(path, 1 << 20) == 0)
        var read = 1_000
        #expect(throws: JournalError.fileShrank) {
            while try reader.next() != nil { read += 1 }
        }
        #expect(read < 20_000)
    }

    /// The fault is the reader's whose call took it: another reader opened before it reads on,
    /// here on the same thread (a fault had made every open reader of the process throw, and so
    /// failed concurrent tests that read journals).
    @Test func anotherReadersShrunkFileLeavesThisReaderBe() throws {
        let directory = try TemporaryDirectory()
        let shrinking = directory.file("shrinking.journal")
        let steady = directory.file("steady.journal")
        try writeJournalFile(shrinking, numbers: 0..<20_000)
        try writeJournalFile(steady, numbers: 0..<5_000)
        let victim = try JournalReader(files: [shrinking])
        let bystander = try JournalReader(files: [steady])
        for _ in 0..<1_000 { #expect(try victim.next() != nil) }
        #expect(try bystander.next() != nil)
        #expect(truncate(shrinking, 1 << 20) == 0)
        #expect(throws: JournalError.fileShrank) {
            while try victim.next() != nil {}
        }
        var read = 1
        while try bystander.next() != nil { read += 1 }
        #expect(read == 5_000)
    }
}
