import Foundation
import Systemd
import TestSupport
import Testing

@Suite("Remote journal files")
struct RemoteJournalFilesTests {
    @Test func senderNamesComeFromJournalRemotesFileNames() {
        #expect(RemoteJournalFiles.sender(fileName: "remote-web1.journal") == "web1")
        #expect(RemoteJournalFiles.sender(fileName: "remote-web1.example.org.journal") == "web1.example.org")
        #expect(
            RemoteJournalFiles.sender(
                fileName: "remote-web1@fcbc8c90ae984952be77b6a4b27289e3-0000000000005c06-00066181d15aa7c7.journal")
                == "web1")
        #expect(RemoteJournalFiles.sender(fileName: "remote-web1.journal~") == "web1")
        #expect(RemoteJournalFiles.sender(fileName: "remote-.journal") == nil)
        #expect(RemoteJournalFiles.sender(fileName: "system.journal") == nil)
        #expect(RemoteJournalFiles.sender(fileName: "remote-web1.journal.gz") == nil)
    }

    /// Journal files made by the real systemd-journal-remote: every entry read from the directory
    /// traces to the file it is in, and a file copied under a second sender's name proves neither.
    @Test func entriesTraceToTheirSendersFile() throws {
        let remote = "/lib/systemd/systemd-journal-remote"
        guard FileManager.default.isExecutableFile(atPath: remote) else {
            try Test.cancel("needs systemd-journal-remote")
        }
        let directory = try TemporaryDirectory()
        for (sender, count) in [("web1", 3), ("web2", 2)] {
            let entries = (1...count).map { index in
                "__REALTIME_TIMESTAMP=\(1_700_000_000_000_000 + index)\nMESSAGE=entry \(index)\nFROM=\(sender)\n"
            }
            let written = try runCommand(
                "/bin/sh",
                [
                    "-c", "printf '%s\\n' \"$1\" | \(remote) --output=\(directory.path)/remote-\(sender).journal -",
                    "sh", entries.joined(separator: "\n"),
                ])
            #expect(written.status == 0, "\(written.output)")
        }
        var files = RemoteJournalFiles(directory: directory.path)
        #expect(
            files.files == [
                "web1": [directory.path + "/remote-web1.journal"], "web2": [directory.path + "/remote-web2.journal"],
            ])

        let reader = try JournalReader(directory: directory.path)
        var senders: [String] = []
        reader.seekHead()
        while let fields = try reader.next() {
            let sender = try #require(reader.seqnumID.flatMap { files.sender(seqnumID: $0) })
            #expect(fields["FROM"] == Array(sender.utf8))
            senders.append(sender)
        }
        #expect(senders.sorted() == ["web1", "web1", "web1", "web2", "web2"])

        let web2Only = try JournalReader(files: files.files["web2"] ?? [])
        #expect(try web2Only.entries().map { $0["FROM"] } == [Array("web2".utf8), Array("web2".utf8)])

        try FileManager.default.copyItem(
            atPath: directory.path + "/remote-web1.journal", toPath: directory.path + "/remote-web3.journal")
        files.rescan()
        let copied = try JournalReader(files: [directory.path + "/remote-web3.journal"])
        _ = try copied.next()
        #expect(copied.seqnumID.flatMap { files.sender(seqnumID: $0) } == nil)
    }
}
