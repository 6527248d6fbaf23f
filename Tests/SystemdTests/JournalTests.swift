import Foundation
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
