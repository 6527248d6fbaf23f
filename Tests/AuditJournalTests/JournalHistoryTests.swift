import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Systemd
import TestSupport
import Testing

@testable import AuditJournal

/// Reading the audit log back from a collector's journal files, in process: files written by
/// systemd-journal-remote as a collector receives them, one per sender.
@Suite struct JournalHistoryTests {
    static let redactor = Redactor(
        mode: .hmac, key: try! RedactionKey(bytes: Array(repeating: 5, count: 32)), isKnownAccount: { _ in true })

    /// The fields of the daemon's journal entry for a login (or `signal`) of `user` as record `seq` of `host`,
    /// received at `received` seconds, stamped as written by the daemon's unit.
    static func entry(
        _ user: String, seq: Int64, host: String, received: TimeInterval, log: String? = nil,
        signal: AuthSignal = .userLoggedIn
    ) -> [String: String] {
        let event = redactor.redact(
            AuthEvent(signal: signal, sender: "sshd", user: user, request: ["remote_addr": .string("192.0.2.1")]),
            peer: PeerCredentials(uid: 0, gid: 0, pid: 9))
        let record = AuditRecord(
            event: event, seq: seq, received: Date(timeIntervalSince1970: received), prevHash: Data(count: 32),
            hash: Data(user.utf8.prefix(1)) + Data(repeating: UInt8(seq), count: 31))
        var fields = ["_SYSTEMD_UNIT": TrustedJournalWriter.serviceUnit, "_HOSTNAME": host]
        for field in AuditJournal.entry(for: record, trustedSender: true, logID: log).fields {
            fields[field.name.name] = String(decoding: field.value, as: UTF8.self)
        }
        return fields
    }

    /// A collector's directory with `entries` by sender.
    static func collector(_ entries: [String: [[String: String]]]) throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        for (host, fields) in entries {
            try writeJournalFile(directory.file("remote-\(host).journal"), entries: fields)
        }
        return directory
    }

    @Test func sendersAreMergedByTheTimeEachRecordWasReceived() throws {
        let directory = try Self.collector([
            "host1": [
                Self.entry("alice", seq: 1, host: "host1", received: 100),
                Self.entry("bob", seq: 2, host: "host1", received: 300),
            ],
            "host2": [Self.entry("carol", seq: 1, host: "host2", received: 200)],
        ])
        var records: [WireRecord] = []
        let count = try JournalHistory(directory: directory.path).records(matching: RecordFilter()) {
            records.append($0)
        }
        #expect(count == 3)
        #expect(records.map(\.user) == ["alice", "carol", "bob"])
        #expect(records.map(\.host) == ["host1", "host2", "host1"])
        // One sender's alone, and a filter.
        var host2: [WireRecord] = []
        _ = try JournalHistory(directory: directory.path, host: "host2").records(matching: RecordFilter()) {
            host2.append($0)
        }
        #expect(host2.map(\.user) == ["carol"])
        var bob: [WireRecord] = []
        _ = try JournalHistory(directory: directory.path).records(matching: RecordFilter(user: "bob")) {
            bob.append($0)
        }
        #expect(bob.map(\.seq) == [2])
        #expect(throws: JournalHistoryError.self) { try JournalHistory(directory: directory.path, host: "host9") }
    }

    /// A host reinstalled under the same name starts a new audit log, numbered from 1 again: its
    /// sessions stand beside the old log's, with their own seqs, read through the collector's
    /// index (fed in two rounds, the second after the new log's first record) and in memory.
    @Test func aHostsNewLogKeepsItsSessionsApartFromTheOldOnes() throws {
        let old = [
            Self.entry("alice", seq: 1, host: "web1", received: 100, log: "old"),
            Self.entry("bob", seq: 2, host: "web1", received: 200, log: "old"),
        ]
        let new = [
            Self.entry("carol", seq: 1, host: "web1", received: 300, log: "new"),
            Self.entry("dave", seq: 2, host: "web1", received: 400, log: "new"),
        ]
        let index = try TemporaryDirectory()
        let directory = try TemporaryDirectory()
        func sessions(index: FleetIndex?) throws -> [String] {
            try JournalHistory(directory: directory.path).sessions(matching: SessionFilter(), index: index).map {
                "\($0.host ?? "-") \($0.user ?? "-") \($0.loginSeq)"
            }
        }
        try writeJournalFile(directory.file("remote-web1.journal"), entries: old + new.prefix(1))
        let first = try sessions(index: FleetIndex(directory: index.path))
        #expect(first == ["web1 carol 1", "web1 bob 2", "web1 alice 1"])
        try writeJournalFile(directory.file("remote-web1.journal"), entries: Array(new.suffix(1)), first: 3)
        let expected = ["web1 dave 2", "web1 carol 1", "web1 bob 2", "web1 alice 1"]
        let indexed = try sessions(index: FleetIndex(directory: index.path))
        #expect(indexed == expected)
        let read = try sessions(index: nil)
        #expect(read == expected)
    }

    /// `report` through the index reads the records the journal holds, each host's and each
    /// log's apart, a re-sent entry once, by the time each was received.
    @Test func theIndexKeepsEachRecordAsTheJournalHoldsIt() throws {
        let web1 = [
            Self.entry("alice", seq: 1, host: "web1", received: 100, log: "a"),
            Self.entry("bob", seq: 2, host: "web1", received: 200, log: "a"),
            Self.entry("carol", seq: 1, host: "web1", received: 300, log: "b"),
        ]
        let web2 = [Self.entry("dave", seq: 1, host: "web2", received: 150, log: "c")]
        let directory = try Self.collector(["web1": web1, "web2": web2 + web2])
        let index = try FleetIndex(directory: TemporaryDirectory().path)
        func facts(_ record: WireRecord) -> String {
            "\(record.host ?? "-") \(record.seq) \(record.user ?? "-") \(record.received.timeIntervalSince1970) "
                + "\(record.remoteAddr ?? "-") \(record.peer?.uid ?? 99)"
        }
        func read(_ filter: RecordFilter, indexed: Bool) throws -> [String] {
            var found: [String] = []
            let journal = try JournalHistory(directory: directory.path)
            if indexed {
                #expect(try index.recordsInAnyOrder(journal, matching: filter) { found.append(facts($0)) } != nil)
            } else {
                _ = try journal.recordsInAnyOrder(matching: filter) { found.append(facts($0)) }
            }
            return found
        }
        let all = try read(RecordFilter(), indexed: true)
        #expect(
            all == [
                "web1 1 alice 100.0 192.0.2.1 0", "web1 2 bob 200.0 192.0.2.1 0", "web1 1 carol 300.0 192.0.2.1 0",
                "web2 1 dave 150.0 192.0.2.1 0",
            ])
        #expect(all == (try read(RecordFilter(), indexed: false)))
        let window = RecordFilter(since: Date(timeIntervalSince1970: 150), until: Date(timeIntervalSince1970: 300))
        #expect(try read(window, indexed: true) == ["web1 2 bob 200.0 192.0.2.1 0", "web2 1 dave 150.0 192.0.2.1 0"])
    }

    /// The collector's index is kept under a name made from the journal directory's path as
    /// systemd-escape --path makes it: compared with the real tool's.
    @Test func theIndexDirectoryIsNamedAsSystemdEscapeNamesAPath() throws {
        for path in ["/var/log/journal/remote", "/srv/a-b/c.d", "/x/.hidden/\u{FC}", "/.dot", "/"] {
            let escaped = try runCommand("/usr/bin/systemd-escape", ["--path", path])
            #expect(escaped.status == 0, "\(escaped)")
            let expected = escaped.output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(FleetIndex.escapedPath(path) == expected, "\(path)")
        }
        #expect(
            FleetIndex.defaultDirectory(for: "/var/log/journal/remote/")
                == "/var/cache/authsignal/fleet/var-log-journal-remote")
    }

    @Test func entriesOfAnyOtherWriterAreNotRecords() throws {
        var forged = Self.entry("mallory", seq: 1, host: "host1", received: 100)
        forged["_SYSTEMD_UNIT"] = "user@1000.service"
        let directory = try Self.collector([
            "host1": [forged, Self.entry("alice", seq: 2, host: "host1", received: 200)]
        ])
        var records: [WireRecord] = []
        _ = try JournalHistory(directory: directory.path).records(matching: RecordFilter()) { records.append($0) }
        #expect(records.map(\.user) == ["alice"])
    }

    @Test func oneLogsAnchorsFromTwoHostsAreRefused() throws {
        func anchor(_ host: String) -> [String: String] {
            var fields = ["_SYSTEMD_UNIT": TrustedJournalWriter.serviceUnit, "_HOSTNAME": host]
            for field in AuditJournal.anchorEntry(seq: 4, hash: Array(repeating: 1, count: 32), logID: "log-a").fields {
                fields[field.name.name] = String(decoding: field.value, as: UTF8.self)
            }
            return fields
        }
        let directory = try Self.collector(["host1": [anchor("host1")], "host2": [anchor("host2")]])
        #expect(throws: JournalHistoryError.anchorsFromSeveralHosts(logID: "log-a", ["host1", "host2"])) {
            try JournalHistory(directory: directory.path).anchors(logID: "log-a")
        }
        let one = try JournalHistory(directory: directory.path, host: "host1").anchors(logID: "log-a")
        #expect(one.map(\.seq) == [4] && one.first?.host == "host1")
    }

    /// The alert service's watch reads only the anchors written since its last look, and still
    /// tells a record anchored again with another hash between two looks.
    @Test func theStatusWatchReadsOnlyNewAnchorsAndKeepsWhatItSaw() throws {
        func anchor(_ seq: Int64, _ byte: UInt8) -> [String: String] {
            var fields = ["_SYSTEMD_UNIT": TrustedJournalWriter.serviceUnit]
            for field in AuditJournal.anchorEntry(seq: seq, hash: Array(repeating: byte, count: 32), logID: "log-a")
                .fields
            {
                fields[field.name.name] = String(decoding: field.value, as: UTF8.self)
            }
            return fields
        }
        let directory = try Self.collector(["web1": [anchor(1, 1), anchor(2, 2)]])
        let watch = FleetStatusWatch()
        let first = try #require(try watch.statuses(of: JournalHistory(directory: directory.path)))
        #expect(first.map(\.anchors) == [2] && first.first?.problems == [])
        try writeJournalFile(directory.file("remote-web1.journal"), entries: [anchor(1, 9)], first: 2)
        let second = try #require(try watch.statuses(of: JournalHistory(directory: directory.path)))
        #expect(second.map(\.anchors) == [3], "\(second)")
        #expect(second.first?.problems == ["log log-a: record 1 anchored with two different hashes"], "\(second)")
        #expect(second.first?.lastAnchor?.entry.seq == 1)
        // A fresh look over the whole files says the same.
        let whole = try #require(try JournalHistory(directory: directory.path).hostStatuses())
        #expect(whole.first?.problems == second.first?.problems && whole.first?.anchors == 3)
    }

    /// The alert service's reader of a collector: history learned (a few records a call, as the
    /// budget allows), then the first new record judged against it across hosts; a reader started
    /// again at the stored positions has nothing new.
    @Test func theRecordFeedLearnsHistoryThenJudgesWhatArrives() throws {
        let failures = (1...3).map {
            Self.entry("root", seq: Int64($0), host: "web1", received: Double($0) * 100, signal: .userLoginFailed)
        }
        let login = Self.entry("root", seq: 1, host: "web2", received: 400)
        let directory = try Self.collector(["web1": failures, "web2": [login]])
        var settings = VerdictSettings()
        settings.failureThreshold = 3
        let since = Date(timeIntervalSince1970: 350)
        let feed = try FleetRecordFeed(directory: directory.path, settings: settings, positions: [:], since: since)
        var calls = 0
        var found: [FleetRecord] = []
        while found.isEmpty && calls < 10 {
            found = try feed.next(limit: 10, budget: 1)
            calls += 1
        }
        #expect(calls == 4, "three calls learn the three failures, the fourth returns the login")
        let record = try #require(found.first)
        #expect(record.entry.record.host == "web2" && record.entry.record.signal == .userLoggedIn)
        #expect(record.entry.record.verdicts.map(\.label) == ["success-after-failures@fleet"])
        #expect(try feed.next(limit: 10).isEmpty)
        let again = try FleetRecordFeed(
            directory: directory.path, settings: settings, positions: ["web2": record.position], since: since)
        #expect(try again.next(limit: 10).isEmpty)
    }
}
