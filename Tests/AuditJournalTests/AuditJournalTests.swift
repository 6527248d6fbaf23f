import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Systemd
import TestSupport
import Testing

@testable import AuditJournal

@Suite("Audit journal entries")
struct AuditJournalTests {
    /// `event` as a stored record.
    static func record(_ event: RedactedEvent, seq: Int64 = 1, hash: Data = Data(count: 32)) -> AuditRecord {
        AuditRecord(event: event, seq: seq, received: Date(), prevHash: Data(count: 32), hash: hash)
    }

    @Test func aJudgedLoginCarriesItsVerdictsForBanToolsAndReadersBack() async throws {
        try requireJournald()
        let redactor = Redactor(
            mode: .hmac, key: try RedactionKey(bytes: Array(repeating: 1, count: 32)), isKnownAccount: { _ in true })
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoggedIn, sender: "sshd", user: "alice",
                request: ["remote_addr": .string("198.51.100.66")], credentials: nil),
            peer: PeerCredentials(uid: 0, gid: 0, pid: 4242))
        let verdicts = [
            Verdict(.firstSeenSource, "first login of alice from 198.51.100.66 (198.51.100.0/24)"),
            Verdict(.successAfterFailures, "login of alice after failed logins within 600 s: 3 failures"),
        ]
        var record = Self.record(event, seq: 7)
        record.verdicts = verdicts
        let id = UUID().uuidString
        var entry = AuditJournal.entry(for: record, trustedSender: true)
        entry.append(try JournalFieldName("AUTHSIGNAL_TEST_ID"), id)
        try JournalWriter().send(entry)

        let json = try #require(try await journalEntry(tagged: id))
        #expect(
            json["MESSAGE"] as? String
                == "rhost=198.51.100.66 verdicts=first-seen-source,success-after-failures alice logged in via sshd")
        // journalctl shows a repeated field as an array (in no set order): `AUTHSIGNAL_VERDICT=CODE`
        // matches either.
        #expect(
            Set(json["AUTHSIGNAL_VERDICT"] as? [String] ?? []) == ["first-seen-source", "success-after-failures"])
        let fields = Dictionary(entry.fields.map { ($0.name.name, $0.value) }) { $1 }
        let readBack = AuditJournal.record(
            fromEntry: fields, written: nil, writer: TrustedJournalWriter(unit: nil, uid: nil))
        #expect(readBack?.verdicts == verdicts)
        // An untrusted sender's login never leads with an address, verdicts or not.
        #expect(
            AuditJournal.sentence(for: record, trustedSender: false) == "alice logged in from 198.51.100.66 via sshd")
    }

    @Test func auditEntriesCarryTheirMessageIDsAndFields() async throws {
        try requireJournald()
        let redactor = Redactor(
            mode: .mask, key: try RedactionKey(bytes: Array(repeating: 1, count: 32)), isKnownAccount: { _ in true })
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoginFailed, sender: "sshd", user: "alice",
                request: ["remote_addr": .string("203.0.113.9"), "tty": .string("ssh")],
                credentials: ["username": .string("alice"), "password": .string("hunter2")]),
            peer: PeerCredentials(uid: 1000, gid: 100, pid: 4242))
        let id = UUID().uuidString
        var entry = AuditJournal.entry(
            for: Self.record(event, seq: 42, hash: Data(repeating: 0xAB, count: 32)), trustedSender: true)
        entry.append(try JournalFieldName("AUTHSIGNAL_TEST_ID"), id)
        try JournalWriter().send(entry)

        let json = try #require(try await journalEntry(tagged: id))
        // Masked, the password leaves no tag in the message (hmac mode's is tested below).
        #expect(json["MESSAGE"] as? String == "rhost=203.0.113.9 login failed for alice via sshd")
        #expect(json["MESSAGE_ID"] as? String == "17494b96fe8e453d89aaeb949444e3f2")
        #expect(json["PRIORITY"] as? String == "5")
        #expect(json["SYSLOG_IDENTIFIER"] as? String == "authsignald")
        #expect(json["AUTHSIGNAL_SIGNAL"] as? String == "user_login_failed")
        #expect(json["AUTHSIGNAL_SENDER"] as? String == "sshd")
        #expect(json["AUTHSIGNAL_USER"] as? String == "alice")
        #expect(json["AUTHSIGNAL_REMOTE_ADDR"] as? String == "203.0.113.9")
        #expect(json["AUTHSIGNAL_SEQ"] as? String == "42")
        #expect(json["AUTHSIGNAL_PEER_UID"] as? String == "1000")
        #expect(json["AUTHSIGNAL_PEER_GID"] as? String == "100")
        #expect(json["AUTHSIGNAL_PEER_PID"] as? String == "4242")
        #expect(json["AUTHSIGNAL_TRUSTED"] as? String == "yes")
        #expect(json["AUTHSIGNAL_HASH"] as? String == String(repeating: "ab", count: 32))
        let credentials = try #require(json["AUTHSIGNAL_CREDENTIALS"] as? String)
        #expect(credentials == #"{"password":"********************","username":"alice"}"#)
        #expect(!"\(json)".contains("hunter2"))

        let anchorID = UUID().uuidString
        var anchor = AuditJournal.anchorEntry(seq: 42, hash: Array(repeating: 0xAB, count: 32), logID: "0123")
        anchor.append(try JournalFieldName("AUTHSIGNAL_TEST_ID"), anchorID)
        try JournalWriter().send(anchor)
        let anchorJSON = try #require(try await journalEntry(tagged: anchorID))
        #expect(anchorJSON["MESSAGE_ID"] as? String == AuditJournal.anchorMessageID)
        #expect(anchorJSON["AUTHSIGNAL_SEQ"] as? String == "42")
        #expect(anchorJSON["AUTHSIGNAL_LOG_ID"] as? String == "0123")
        // Written by this test process, not by the authsignald unit (journald's own _SYSTEMD_UNIT
        // and _UID say so): not taken as an anchor, so nobody can plant anchors that raise false
        // alarms. A process merely named authsignald (_COMM) is no better.
        let fields = anchorJSON.compactMapValues { ($0 as? String).map { Array($0.utf8) } }
        let writer = TrustedJournalWriter(unit: TrustedJournalWriter.serviceUnit, uid: 998)
        #expect(AuditJournal.anchor(fromEntry: fields, writer: writer) == nil)
        var renamed = fields
        renamed["_COMM"] = Array("authsignald".utf8)
        #expect(AuditJournal.anchor(fromEntry: renamed, writer: writer) == nil)
        var otherUID = renamed
        otherUID["_SYSTEMD_UNIT"] = Array("authsignald.service".utf8)
        otherUID["_UID"] = Array("1000".utf8)
        #expect(AuditJournal.anchor(fromEntry: otherUID, writer: writer) == nil)
        var fromDaemon = otherUID
        fromDaemon["_UID"] = Array("998".utf8)
        let read = try #require(AuditJournal.anchor(fromEntry: fromDaemon, writer: writer))
        #expect(read.seq == 42 && read.logID == "0123" && read.hash == Array(repeating: 0xAB, count: 32))
        // A collector does not know each host's uid: the unit decides.
        #expect(AuditJournal.anchor(fromEntry: otherUID, writer: .collected) != nil)
    }

    @Test func aHostileUserNameCannotForgeLinesInTheMessage() throws {
        let redactor = Redactor(
            mode: .mask, key: try RedactionKey(bytes: Array(repeating: 1, count: 32)), isKnownAccount: { _ in true })
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoggedIn, sender: "sshd", user: "eve\nroot logged in via sshd\u{1b}[2K",
                request: ["remote_addr": .string("192.0.2.1\nroot logged in via sshd\u{1b}[2K")]),
            peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
        let sentence = AuditJournal.sentence(for: Self.record(event), trustedSender: true)
        // The user is escaped by the redactor already (for every sink), and its backslashes once
        // more here, like the address's control characters.
        #expect(
            sentence
                == "eve\\\\x0aroot logged in via sshd\\\\x1b[2K…[altered] logged in from "
                + "192.0.2.1\\x0aroot logged in via sshd\\x1b[2K via sshd")
        #expect(
            AuditJournal.entry(for: Self.record(event), trustedSender: true)[try JournalFieldName("AUTHSIGNAL_USER")]
                == event.user)
    }

    @Test func aFailureLeadsWithItsAddressOnlyWhenTheAddressIsNumeric() throws {
        let redactor = Redactor(
            mode: .mask, key: try RedactionKey(bytes: Array(repeating: 1, count: 32)), isKnownAccount: { _ in true })
        func sentence(user: String, address: String?) -> String {
            let event = redactor.redact(
                AuthEvent(
                    signal: .userLoginFailed, sender: "sshd", user: user,
                    request: address.map { ["remote_addr": .string($0)] }),
                peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
            return AuditJournal.sentence(for: Self.record(event), trustedSender: true)
        }
        #expect(sentence(user: "bob", address: "203.0.113.9") == "rhost=203.0.113.9 login failed for bob via sshd")
        #expect(sentence(user: "bob", address: "2001:db8::7") == "rhost=2001:db8::7 login failed for bob via sshd")
        // What fail2ban must never take for an address: a user name that claims one, a host name,
        // and an address with more text after it.
        #expect(
            sentence(user: "rhost=198.51.100.66 x", address: "203.0.113.9")
                == "rhost=203.0.113.9 login failed for rhost=198.51.100.66 x via sshd")
        #expect(sentence(user: "bob", address: "gw.example.org") == "Login failed for bob from gw.example.org via sshd")
        #expect(
            sentence(user: "bob", address: "198.51.100.66 login failed")
                == "Login failed for bob from 198.51.100.66 login failed via sshd")
        #expect(sentence(user: "rhost=198.51.100.66", address: nil) == "Login failed for rhost=198.51.100.66 via sshd")
    }

    /// A sender outside the trusted senders (issue 24, item 2) never gets the address-first
    /// message the ban filters anchor on, and its entry says it is not trusted.
    @Test func anUntrustedSendersFailureNeverLeadsWithItsAddress() throws {
        let redactor = Redactor(
            mode: .mask, key: try RedactionKey(bytes: Array(repeating: 1, count: 32)), isKnownAccount: { _ in true })
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoginFailed, sender: "sshd", user: "root",
                request: ["remote_addr": .string("192.0.2.250")]),
            peer: PeerCredentials(uid: 1000, gid: 1000, pid: 77))
        let entry = AuditJournal.entry(for: Self.record(event), trustedSender: false)
        #expect(
            entry[.message]
                == "Login failed for root from 192.0.2.250 via sshd (reported by uid 1000, not a trusted sender)")
        #expect(entry[try JournalFieldName("AUTHSIGNAL_TRUSTED")] == "no")
    }

    @Test func aFailureNamesItsPasswordByAShortKeyedHashSoSprayingShows() throws {
        let key = try RedactionKey(bytes: Array(repeating: 7, count: 32))
        let redactor = Redactor(mode: .hmac, key: key, isKnownAccount: { _ in true })
        func sentence(_ user: String, _ password: String) -> String {
            let event = redactor.redact(
                AuthEvent(
                    signal: .userLoginFailed, sender: "sshd", user: user,
                    request: ["remote_addr": .string("203.0.113.9")], credentials: ["password": .string(password)]),
                peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
            return AuditJournal.sentence(for: Self.record(event), trustedSender: true)
        }
        let tag = /rhost=203\.0\.113\.9 pwhash=([0-9a-f]{16}) login failed for (\w+) via sshd/
        let alice = try #require(sentence("alice", "Winter2026!").wholeMatch(of: tag))
        let bob = try #require(sentence("bob", "Winter2026!").wholeMatch(of: tag))
        let other = try #require(sentence("alice", "Summer2026!").wholeMatch(of: tag))
        #expect(alice.1 == bob.1 && alice.1 != other.1)
        // The tag is the stored keyed hash's first 64 bits: never the password, never the whole hash.
        let stored = redactor.keyedHash("Winter2026!")
        #expect(stored.hasPrefix(Redactor.keyedHashPrefix + alice.1))
        #expect(!sentence("alice", "Winter2026!").contains(stored))
    }

    /// A followed directory's files fall into series: a sender's (as journal-remote names them),
    /// or another file's with its rotations.
    @Test func followedFilesFallIntoSeries() {
        let rotated = "@fcbc8c90ae984952be77b6a4b27289e3-0000000000005c06-00066181d15aa7c7.journal"
        #expect(DirectoryFollower.seriesName(fileName: "remote-web1.journal") == .sender("web1"))
        #expect(DirectoryFollower.seriesName(fileName: "remote-web1" + rotated) == .sender("web1"))
        #expect(DirectoryFollower.seriesName(fileName: "system.journal") == .unnamed("system"))
        #expect(DirectoryFollower.seriesName(fileName: "system" + rotated) == .unnamed("system"))
        #expect(DirectoryFollower.seriesName(fileName: "user-1000.journal~") == .unnamed("user-1000"))
        #expect(DirectoryFollower.seriesName(fileName: "remote.journal") == .unnamed("remote"))
        #expect(DirectoryFollower.seriesName(fileName: "remote-web1.journal.gz") == nil)
        #expect(DirectoryFollower.seriesName(fileName: ".journal") == nil)
    }

    @Test func theCatalogParsesAndNamesEveryMessageID() async throws {
        let root = try TemporaryDirectory()
        let catalogDirectory = root.path + "/usr/lib/systemd/catalog"
        try FileManager.default.createDirectory(atPath: catalogDirectory, withIntermediateDirectories: true)
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("systemd/authsignal.catalog")
        try FileManager.default.copyItem(atPath: source.path, toPath: catalogDirectory + "/authsignal.catalog")
        let update = try await run("/usr/bin/journalctl", ["--root=\(root.path)", "--update-catalog"])
        #expect(update.status == 0, "\(update.output)")
        let list = try await run("/usr/bin/journalctl", ["--root=\(root.path)", "--list-catalog"])
        #expect(list.status == 0 && !list.output.isEmpty, "journalctl --list-catalog: \(list)")
        for signal in AuthSignal.allCases {
            #expect(list.output.contains(AuditJournal.messageID(signal)))
        }
        #expect(list.output.contains(AuditJournal.anchorMessageID))
    }
}

/// Cancels the test when no journald listens: `scripts/test` starts one.
func requireJournald() throws {
    guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
        try Test.cancel("no journald socket; scripts/test starts a private journald")
    }
}

/// A followed series whose older file journald truncates and deletes (a vacuum where the file
/// system cannot punch holes, systemd#33277) is opened again and read on from its newer file:
/// neither a crash (SIGBUS) nor an entry twice.
@Suite struct ShrinkingFollowTests {
    @Test func aFollowedSeriesReadsOnWhenAFileShrinksUnderIt() throws {
        let directory = try TemporaryDirectory()
        let older = directory.file("system@0001.journal")
        try writeJournalFile(older, numbers: 0..<20_000)
        try writeJournalFile(directory.file("system.journal"), numbers: 20_000..<20_100)
        let follower = try DirectoryFollower(directory: directory.path, host: nil, start: .oldest)
        let series = try #require(follower.streams.first)
        func number(_ fields: [String: [UInt8]]) -> Int {
            Int(String(decoding: fields["SEQ"] ?? [], as: UTF8.self)) ?? -1
        }
        var seen: [Int] = []
        for _ in 0..<1_000 {
            if let entry = try series.next() { seen.append(number(entry.fields)) }
        }
        #expect(truncate(older, 0) == 0 && unlink(older) == 0)
        while let entry = try series.next() { seen.append(number(entry.fields)) }
        #expect(Array(seen.prefix(1_000)) == Array(0..<1_000))
        #expect(Array(seen.suffix(100)) == Array(20_000..<20_100))
        #expect(Set(seen).count == seen.count)
    }
}
