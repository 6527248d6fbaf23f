import AuthSignalClient
import AuthSignalProtocol
import Foundation
import Testing

@Suite("Summarising records")
struct AuditSummaryTests {
    static let start = RFC3339.parse("2026-11-25T10:00:00Z")!

    static func failure(
        _ seq: Int64, user: String, from address: String, minute: Int, secret: String? = nil, uid: UInt32 = 0
    ) -> WireRecord {
        WireRecord(
            seq: seq, received: start.addingTimeInterval(Double(minute * 60)), time: nil, signal: .userLoginFailed,
            sender: "sshd", user: user, request: ["remote_addr": .string(address)],
            credentials: secret.map { ["password": .string($0)] }, peer: PeerCredentials(uid: uid, gid: uid, pid: 1),
            hash: Data(count: 32), host: "web\(seq % 2)")
    }

    /// The daemon's own records (account, lifecycle) count whatever uid the daemon runs as: no
    /// client can send their signals. A password change counts only from a trusted sender.
    @Test func theDaemonsOwnRecordsCountAndOnlyTheirSignalsAreListed() {
        var summary = AuditSummary(bucket: 3600)
        let daemon = PeerCredentials(uid: 998, gid: 998, pid: 7)
        for (seq, signal) in [(1, AuthSignal.daemonStarted), (2, .accountAdded), (3, .passwordChanged)] {
            summary.add(
                WireRecord(
                    seq: Int64(seq), received: Self.start, time: nil, signal: signal, sender: "authsignald",
                    user: "eve", request: nil, credentials: nil, peer: daemon, hash: Data(count: 32)))
        }
        let text = summary.render(top: 2, threshold: 5, window: 600, sprayAccounts: 3)
        #expect(
            text.hasPrefix(
                "Records: 2\n  (1 more from senders that are not trusted, left out: --include-untrusted counts them)\n"
                    + "  login          0\n  logout         0\n  failed         0\n  account-added  1\n  start          1\n"
            ),
            "\(text)")
    }

    @Test func totalsTopListsHistogramAndAttackHints() {
        var summary = AuditSummary(bucket: 3600)
        for index in 0..<6 {
            summary.add(Self.failure(Int64(index), user: "root", from: "198.51.100.66", minute: index))
        }
        for (index, user) in ["alice", "bob", "carol"].enumerated() {
            summary.add(
                Self.failure(
                    Int64(10 + index), user: user, from: "203.0.113.\(index)", minute: 70, secret: "hmac-sha256:aa"))
        }
        let text = summary.render(
            top: 2, threshold: 5, window: 600, sprayAccounts: 3, timeZone: TimeZone(identifier: "UTC")!)
        #expect(text.hasPrefix("Records: 9\n  login   0\n  logout  0\n  failed  9\n"))
        #expect(text.contains("\nRecords by host:\n        5  web0\n        4  web1\n"))
        #expect(text.contains("\nFailures by accounts (top 2):\n        6  root\n        1  alice\n"))
        #expect(text.contains("\nFailures by remote addresses (top 2):\n        6  198.51.100.66\n"))
        #expect(
            text.contains(
                "\nRecords per hour:\n  2026-11-25 10:00        6  " + String(repeating: "#", count: 40) + "\n"))
        #expect(text.contains("  2026-11-25 11:00        3  " + String(repeating: "#", count: 20) + "\n"))
        #expect(text.contains("root: 6 failures from 2026-11-25T10:00:00.000000Z\n"))
        #expect(text.contains("(spraying?):\n  hmac-sha256:aa: 3 accounts\n"))
        let quiet = summary.render(top: 2, threshold: 7, window: 600, sprayAccounts: 4)
        #expect(!quiet.contains("brute force") && !quiet.contains("spraying"))
    }

    @Test func judgedLoginsAreCountedPerVerdictAndTheLatestListedWithTheirReasons() {
        var summary = AuditSummary()
        for index in 0..<14 {
            var login = Self.failure(Int64(100 + index), user: "alice", from: "203.0.113.\(index)", minute: index)
            login.signal = .userLoggedIn
            login.credentials = nil
            login.verdicts = [Verdict(.firstSeenSource, "first login of alice from 203.0.113.\(index)")]
            if index == 13 { login.verdicts.append(Verdict(.successAfterFailures, "after 5 failures\u{1B}[2J")) }
            summary.add(login)
        }
        summary.add(Self.failure(200, user: "root", from: "198.51.100.66", minute: 20))
        let text = summary.render(top: 2, threshold: 5, window: 600, sprayAccounts: 3)
        #expect(
            text.contains(
                "\nVerdicts (15 on 14 logins; docs/verdicts.md):\n       14  first-seen-source\n"
                    + "        1  success-after-failures\nLatest judged logins:\n"))
        #expect(!text.contains("seq 103 ") && text.contains("seq 104  alice from 203.0.113.4\n"))
        #expect(text.contains("    success-after-failures: after 5 failures\\x1b[2J\n"))
        #expect(!AuditSummary().render(top: 2, threshold: 5, window: 600, sprayAccounts: 3).contains("Verdicts"))
    }

    @Test func hostileNamesAreEscapedForTheTerminal() {
        var summary = AuditSummary()
        summary.add(Self.failure(1, user: "eve\u{1B}[2J", from: "192.0.2.1\n", minute: 0))
        let text = summary.render(top: 5, threshold: 1, window: 60, sprayAccounts: 3)
        #expect(!text.contains("\u{1B}"))
        #expect(text.contains("eve\\x1b[2J"))
        #expect(text.contains("192.0.2.1\\x0a"))
    }

    /// A member of the emit group who is not a trusted sender cannot make a brute force, a
    /// spray or a top address appear (issue 24, item 3): left out, and said so; counted on request.
    @Test func untrustedSendersAreLeftOutUnlessAsked() {
        var trustedOnly = AuditSummary()
        var everyone = AuditSummary(trusted: nil)
        var withTrustedUser = AuditSummary(trusted: TrustedSenders(uids: [1000]))
        for index in 0..<8 {
            let forged = Self.failure(
                Int64(index), user: "root", from: "192.0.2.250", minute: index, secret: "hmac-sha256:bb", uid: 1000)
            trustedOnly.add(forged)
            everyone.add(forged)
            withTrustedUser.add(forged)
        }
        let real = Self.failure(9, user: "alice", from: "203.0.113.7", minute: 9)
        trustedOnly.add(real)
        everyone.add(real)
        withTrustedUser.add(real)
        let text = trustedOnly.render(top: 5, threshold: 5, window: 600, sprayAccounts: 1)
        #expect(text.hasPrefix("Records: 1\n  (8 more from senders that are not trusted, left out:"))
        #expect(!text.contains("192.0.2.250") && !text.contains("brute force") && !text.contains("hmac-sha256:bb"))
        #expect(everyone.total == 9 && everyone.untrusted == 0)
        #expect(withTrustedUser.total == 9)
        #expect(everyone.render(top: 5, threshold: 5, window: 600, sprayAccounts: 1).contains("192.0.2.250"))
    }
}

@Suite("The login notice's lines")
struct LoginNoticeLinesTests {
    @Test func failuresBySourceANewSourceAndThePeriod() throws {
        let time = try #require(RFC3339.parse("2026-11-30T11:07:09Z"))
        let account = WireAccount(
            user: "alice", lastLogin: .init(seq: 3, time: time, from: "192.0.2.7", service: "sshd"),
            lastFailure: .init(seq: 9, time: time, from: "203.0.113.7\u{1B}[2J", service: "sshd"),
            failuresSinceLogin: 9, failures: 12)
        let notice = LoginNotice(
            account: account,
            failuresBySource: [
                .init(source: "203.0.113.0/24", count: 5), .init(source: "198.51.100.0/24", count: 2),
                .init(source: "192.0.2.0/24", count: 1),
            ], failureSources: 5, source: "100.64.0.0/24", firstFromSource: true, periodDays: 30,
            loginsInPeriod: 1, failuresInPeriod: 12)
        let lines = PAMHook.lines(notice)
        #expect(lines.count == 5)
        #expect(lines[1].hasPrefix("9 failed login attempts since the last login (last from 203.0.113.7\\x1b[2J at "))
        #expect(
            lines[2]
                == "By source: 5 from 203.0.113.0/24, 2 from 198.51.100.0/24, 1 from 192.0.2.0/24, 1 from 2 other sources."
        )
        #expect(lines[3] == "This is the first login to this account from 100.64.0.0/24.")
        #expect(lines[4] == "In the last 30 days: 1 login, 12 failed login attempts.")
        // Nothing known: no lines at all.
        let empty = LoginNotice(
            account: nil, failuresBySource: [], failureSources: 0, source: nil, firstFromSource: false, periodDays: 30,
            loginsInPeriod: 0, failuresInPeriod: 0)
        #expect(PAMHook.lines(empty).isEmpty)
        #expect(try LoginNotice(fields: notice.fields) == notice)
    }
}
