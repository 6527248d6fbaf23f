import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Testing

@testable import AuditStore

/// Each verdict's rule on the judge alone, with the edge cases docs/verdicts.md promises:
/// thresholds met exactly, the learning window, IPv6 prefixes, sessions ended out of order,
/// schedules across midnight and daylight saving time.
@Suite("Verdicts: the rules")
struct VerdictJudgeTests {
    /// Monday 2026-01-05 12:00 UTC.
    static let monday: Int64 = 1_767_614_400 * 1_000_000
    static let minute: Int64 = 60_000_000

    /// Builds events in seq order.
    struct History {
        var seq: Int64 = 0
        var judge: VerdictJudge

        init(_ configure: (inout VerdictSettings) -> Void = { _ in }, accounts: [String: AccountFacts] = [:]) {
            var settings = VerdictSettings()
            settings.learnLogins = 3
            settings.learnDays = 10_000
            settings.failureThreshold = 3
            settings.failureWindowSeconds = 600
            configure(&settings)
            judge = VerdictJudge(settings: settings) { accounts[$0] }
        }

        /// Judges one event `minutes` after Monday noon and returns the codes of its verdicts.
        @discardableResult
        mutating func send(
            _ signal: AuthSignal, _ user: String, from address: String? = "198.51.100.4", at minutes: Double = 0,
            key: String? = nil, uid: Int64 = 0, sender: String = "sshd"
        ) -> [VerdictCode] {
            verdicts(signal, user, from: address, at: minutes, key: key, uid: uid, sender: sender).map(\.code)
        }

        mutating func verdicts(
            _ signal: AuthSignal, _ user: String, from address: String? = "198.51.100.4", at minutes: Double = 0,
            key: String? = nil, uid: Int64 = 0, sender: String = "sshd"
        ) -> [Verdict] {
            seq += 1
            let at = VerdictJudgeTests.monday + Int64(minutes * Double(VerdictJudgeTests.minute))
            return judge.judge(
                ActivityEvent(
                    seq: seq, signal: signal, at: at, sender: sender, user: user, remoteAddr: address,
                    service: sender, tty: "pts/1", key: key, peerUID: uid, received: at))
        }
    }

    static func only(_ code: VerdictCode) -> (inout VerdictSettings) -> Void {
        { $0.enabled = [code] }
    }

    @Test("first-seen-source: judged once the account has logged in LearnLogins times, by /24")
    func firstSeenAfterLearning() {
        var history = History(Self.only(.firstSeenSource))
        #expect(history.send(.userLoggedIn, "alice", from: "198.51.100.4") == [])
        #expect(history.send(.userLoggedIn, "alice", from: "198.51.100.4") == [])
        // Two logins are fewer than three: a new source is learned, not judged.
        #expect(history.send(.userLoggedIn, "alice", from: "192.0.2.1") == [])
        // Exactly three logins now: the next new source is judged.
        let verdicts = history.verdicts(.userLoggedIn, "alice", from: "203.0.113.7")
        #expect(verdicts.map(\.code) == [.firstSeenSource])
        #expect(
            verdicts.first?.reason
                == "first login of alice from 203.0.113.7 (203.0.113.0/24); 3 earlier logins came from 2 sources, "
                + "the last from 192.0.2.0/24")
        // The same network is no longer new, and another address in a known one never was.
        #expect(history.send(.userLoggedIn, "alice", from: "203.0.113.200") == [])
        #expect(history.send(.userLoggedIn, "alice", from: "198.51.100.99") == [])
        // Another account's sources are its own.
        #expect(history.send(.userLoggedIn, "bob", from: "203.0.113.7") == [])
    }

    @Test("first-seen-source: the log's age lets an account with few logins be judged")
    func firstSeenByLogAge() {
        var history = History {
            $0.enabled = [.firstSeenSource]
            $0.learnLogins = 100
            $0.learnDays = 1
        }
        history.send(.userLoginFailed, "nobody", at: 0)
        history.send(.userLoggedIn, "alice", from: "198.51.100.4", at: 60)
        #expect(history.send(.userLoggedIn, "alice", from: "203.0.113.7", at: 23 * 60) == [])
        // One day after the log's first record: judged although alice logged in twice only.
        #expect(history.send(.userLoggedIn, "alice", from: "192.0.2.1", at: 24 * 60) == [.firstSeenSource])
    }

    @Test("first-seen-source: IPv6 sources are /64 networks; mapped IPv4 is IPv4")
    func ipv6Prefixes() {
        var history = History {
            $0.enabled = [.firstSeenSource]
            $0.learnLogins = 1
        }
        history.send(.userLoggedIn, "alice", from: "2001:db8:1:2::5")
        #expect(history.send(.userLoggedIn, "alice", from: "2001:db8:1:2:ffff:ee::1") == [])
        let verdicts = history.verdicts(.userLoggedIn, "alice", from: "2001:db8:1:3::1")
        #expect(
            verdicts.first?.reason.hasPrefix("first login of alice from 2001:db8:1:3::1 (2001:db8:1:3::/64)") == true)
        history.send(.userLoggedIn, "alice", from: "::ffff:198.51.100.4")
        #expect(history.send(.userLoggedIn, "alice", from: "198.51.100.9") == [])
        #expect(LoginSource(address: "2001:db8::1", ipv4Prefix: 24, ipv6Prefix: 128).text == "2001:db8::1")
        #expect(LoginSource(address: "198.51.100.4", ipv4Prefix: 32, ipv6Prefix: 64).text == "198.51.100.4")
        #expect(LoginSource(address: "198.51.100.4", ipv4Prefix: 20, ipv6Prefix: 64).text == "198.51.96.0/20")
        #expect(LoginSource(address: "gateway.example", ipv4Prefix: 24, ipv6Prefix: 64).text == "gateway.example")
    }

    @Test("success-after-failures: the threshold counts exactly, within the window, per account")
    func successAfterFailuresPerAccount() {
        var history = History(Self.only(.successAfterFailures))
        history.send(.userLoginFailed, "alice", from: "203.0.113.9", at: 0)
        history.send(.userLoginFailed, "alice", from: "192.0.2.50", at: 1)
        // Two failures are fewer than three.
        #expect(history.send(.userLoggedIn, "alice", from: "198.51.100.4", at: 2) == [])
        // The success ended them: three more are needed.
        history.send(.userLoginFailed, "alice", from: "203.0.113.9", at: 3)
        history.send(.userLoginFailed, "alice", from: "203.0.113.10", at: 4)
        history.send(.userLoginFailed, "alice", from: "192.0.2.50", at: 5)
        let verdicts = history.verdicts(.userLoggedIn, "alice", from: "198.51.100.4", at: 6)
        #expect(verdicts.map(\.code) == [.successAfterFailures])
        #expect(
            verdicts.first?.reason
                == "login of alice from 198.51.100.4 after failed logins within 600 s: 3 failures against alice, "
                + "the last from 192.0.2.50")
        // Failures older than the window do not count.
        history.send(.userLoginFailed, "bob", from: "203.0.113.9", at: 10)
        history.send(.userLoginFailed, "bob", from: "203.0.113.9", at: 11)
        history.send(.userLoginFailed, "bob", from: "192.0.2.1", at: 30)
        #expect(history.send(.userLoggedIn, "bob", from: "198.51.100.4", at: 21.5) == [])
    }

    @Test("success-after-failures: failures from one source against many accounts")
    func successAfterFailuresPerSource() {
        var history = History(Self.only(.successAfterFailures))
        history.send(.userLoginFailed, "root", from: "203.0.113.9", at: 0)
        history.send(.userLoginFailed, "admin", from: "203.0.113.77", at: 1)
        history.send(.userLoginFailed, "oracle", from: "203.0.113.9", at: 2)
        let verdicts = history.verdicts(.userLoggedIn, "carol", from: "203.0.113.9", at: 3)
        #expect(
            verdicts.map(\.reason) == [
                "login of carol from 203.0.113.9 after failed logins within 600 s: 3 failures from 203.0.113.0/24, "
                    + "the last against oracle"
            ])
    }

    @Test("system-account-login: a uid in the system range or a shell that refuses logins; not root")
    func systemAccounts() {
        let accounts = [
            "www-data": AccountFacts(uid: 33, shell: "/usr/sbin/nologin"),
            "backup": AccountFacts(uid: 1001, shell: "/bin/false"),
            "alice": AccountFacts(uid: 1000, shell: "/bin/bash"),
            "root": AccountFacts(uid: 0, shell: "/bin/bash"),
        ]
        var history = History(Self.only(.systemAccountLogin), accounts: accounts)
        #expect(
            history.verdicts(.userLoggedIn, "www-data").map(\.reason) == [
                "login of system account www-data (uid 33, at most 999) from 198.51.100.4"
            ])
        #expect(
            history.verdicts(.userLoggedIn, "backup", from: nil).map(\.reason) == [
                "login of backup, whose shell /bin/false refuses logins"
            ])
        #expect(history.send(.userLoggedIn, "alice") == [])
        #expect(history.send(.userLoggedIn, "root") == [])
        #expect(history.send(.userLoggedIn, "unknown-to-nss") == [])
    }

    @Test("concurrent-sources: sessions paired by key, ended out of order, closed by a new boot")
    func concurrentSources() {
        var history = History(Self.only(.concurrentSources))
        history.send(.userLoggedIn, "alice", from: "198.51.100.4", key: "B1/10/sshd/pts/1")
        // Another session from the same network is not another source.
        #expect(history.send(.userLoggedIn, "alice", from: "198.51.100.5", key: "B1/11/sshd/pts/2") == [])
        let verdicts = history.verdicts(.userLoggedIn, "alice", from: "203.0.113.7", key: "B1/12/sshd/pts/3")
        #expect(verdicts.map(\.code) == [.concurrentSources])
        #expect(verdicts.first?.reason.hasPrefix("login of alice from 203.0.113.7 while 2 sessions from other") == true)
        // The later sessions end first; the first is still open.
        history.send(.userLoggedOut, "alice", from: "203.0.113.7", key: "B1/12/sshd/pts/3")
        history.send(.userLoggedOut, "alice", from: "198.51.100.5", key: "B1/11/sshd/pts/2")
        #expect(
            history.send(.userLoggedIn, "alice", from: "192.0.2.8", key: "B1/13/sshd/pts/3") == [.concurrentSources])
        history.send(.userLoggedOut, "alice", from: "192.0.2.8", key: "B1/13/sshd/pts/3")
        // A logout from a sender that did not send the login ends nothing.
        history.send(.userLoggedOut, "alice", from: "198.51.100.4", key: "B1/10/sshd/pts/1", uid: 1000)
        #expect(
            history.send(.userLoggedIn, "alice", from: "192.0.2.9", key: "B1/14/sshd/pts/4") == [.concurrentSources])
        history.send(.userLoggedOut, "alice", from: "192.0.2.9", key: "B1/14/sshd/pts/4")
        // The host rebooted: boot B1's sessions are gone.
        #expect(history.send(.userLoggedIn, "alice", from: "192.0.2.10", key: "B2/10/sshd/pts/1") == [])
    }

    @Test("outside-hours: read in the configured zone, daylight saving time and midnight included")
    func outsideHours() throws {
        var history = History {
            $0.enabled = [.outsideHours]
            $0.hours = try? LoginHours(parsing: "Mon-Fri 07:00-19:00, Sat 22:00-02:00")
            $0.timeZone = "Europe/Berlin"
        }
        // Monday 05:30 UTC: 06:30 in Berlin's winter, before 07:00.
        let early = history.verdicts(.userLoggedIn, "alice", at: -6.5 * 60)
        #expect(
            early.map(\.reason) == [
                "login of alice from 198.51.100.4 at Mon 2026-01-05 06:30 GMT+1, outside "
                    + "Mon-Fri 07:00-19:00, Sat 22:00-02:00"
            ])
        // The same UTC time in summer is 07:30 in Berlin: inside.
        let summer = Int64(1_783_921_800) * 1_000_000 - Self.monday  // Monday 2026-07-13 05:30 UTC
        #expect(history.send(.userLoggedIn, "alice", at: Double(summer / Self.minute)) == [])
        // Saturday 23:30 and Sunday 01:30 Berlin are inside the span past midnight; Sunday 02:30 is not.
        let saturday = 5 * 24 * 60.0 + 10.5 * 60  // Saturday 22:30 UTC = 23:30 Berlin
        #expect(history.send(.userLoggedIn, "alice", at: saturday) == [])
        #expect(history.send(.userLoggedIn, "alice", at: saturday + 120) == [])
        #expect(history.send(.userLoggedIn, "alice", at: saturday + 180) == [.outsideHours])
    }

    @Test("imported history teaches, and is not judged")
    func importedHistory() {
        var history = History {
            $0.enabled = [.firstSeenSource, .successAfterFailures]
            $0.learnLogins = 1
            $0.failureThreshold = 1
        }
        history.send(.userLoggedIn, "alice", from: "198.51.100.4", sender: "import-wtmp")
        history.send(.userLoginFailed, "alice", from: "203.0.113.9", sender: "import-btmp")
        #expect(history.send(.userLoggedIn, "alice", from: "203.0.113.7", sender: "import-wtmp") == [])
        // Both the source and the account were learned from the import.
        #expect(history.send(.userLoggedIn, "alice", from: "192.0.2.1") == [.firstSeenSource])
        #expect(history.send(.userLoggedIn, "alice", from: "203.0.113.8") == [])
    }

    @Test("a switched-off verdict is not judged")
    func switchedOff() {
        var history = History { $0.enabled = [] }
        for minute in 0..<5 { history.send(.userLoginFailed, "alice", at: Double(minute)) }
        #expect(history.send(.userLoggedIn, "www-data", from: "203.0.113.7", at: 6) == [])
        #expect(VerdictSettings().judges(.outsideHours) == false)
    }
}
