import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Testing

@testable import AuditStore

/// The fleet's verdicts on the judge alone: sources new to the whole fleet, failures spread over
/// hosts, and what a host judges alone left to it (docs/fleet.md).
@Suite("Verdicts: across a fleet's hosts")
struct FleetJudgeTests {
    /// Builds host-tagged journal entries in the order a collector received them.
    struct Fleet {
        var seq: Int64 = 0
        var judge: FleetJudge
        /// Monday 2026-01-05 12:00 UTC.
        var clock = Date(timeIntervalSince1970: 1_767_614_400)

        init() {
            var settings = VerdictSettings()
            settings.learnLogins = 2
            settings.learnDays = 10_000
            settings.failureThreshold = 3
            judge = FleetJudge(settings: settings)
        }

        /// Judges one event on `host`, a minute after the last, and returns the fleet's verdicts.
        mutating func send(
            _ signal: AuthSignal, _ user: String, on host: String, from address: String? = "198.51.100.4",
            trusted: Bool = true
        ) -> [Verdict] {
            seq += 1
            clock += 60
            var request: JSONObject = ["service": .string("sshd")]
            if let address { request["remote_addr"] = .string(address) }
            let record = WireRecord(
                seq: seq, received: clock, time: clock, signal: signal, sender: "sshd", user: user, request: request,
                credentials: nil, peer: PeerCredentials(uid: trusted ? 0 : 1000, gid: 0, pid: 1), hash: Data(),
                host: host)
            return judge.judge(JournalActivityEntry(record: record, trusted: trusted, log: "log-\(host)"))
        }
    }

    @Test("first-seen-source@fleet: a source the account used on another host is not new")
    func sourceNewToTheFleet() {
        var fleet = Fleet()
        #expect(fleet.send(.userLoggedIn, "alice", on: "web1").isEmpty)
        #expect(fleet.send(.userLoggedIn, "alice", on: "web1").isEmpty)
        // New to web2, known to the fleet: web2's own judge may say so, the fleet does not.
        #expect(fleet.send(.userLoggedIn, "alice", on: "web2").isEmpty)
        let verdicts = fleet.send(.userLoggedIn, "alice", on: "web2", from: "203.0.113.77")
        #expect(verdicts.map(\.label) == ["first-seen-source@fleet"])
        #expect(
            verdicts.first?.reason
                == "first login of alice from 203.0.113.77 (203.0.113.0/24) on any host of the fleet, here web2; "
                + "3 earlier logins on 2 hosts came from 1 source, the last 3 from 198.51.100.0/24")
        #expect(fleet.send(.userLoggedIn, "alice", on: "web3", from: "203.0.113.8").isEmpty)
    }

    @Test("success-after-failures@fleet: failures spread over hosts, or all on others, then a success")
    func failuresSpreadOverHosts() {
        var fleet = Fleet()
        for host in ["web1", "web1", "web2"] {
            #expect(fleet.send(.userLoginFailed, "bob", on: host, from: "192.0.2.50").isEmpty)
        }
        let verdicts = fleet.send(.userLoggedIn, "bob", on: "web2", from: "192.0.2.50")
        #expect(verdicts.map(\.label) == ["success-after-failures@fleet"])
        #expect(
            verdicts.first?.reason
                == "login of bob from 192.0.2.50 on web2 after failed logins within 600 s on 2 hosts of the fleet "
                + "(web1, web2): 3 failures against bob, the last from 192.0.2.50 on web2; 3 failures from "
                + "192.0.2.0/24, the last against bob on web2")
        // All on another host: the host where the login happened saw none of them.
        for _ in 1...3 { _ = fleet.send(.userLoginFailed, "carol", on: "web1", from: "198.51.100.9") }
        #expect(
            fleet.send(.userLoggedIn, "carol", on: "web3", from: "192.0.2.9").map(\.label) == [
                "success-after-failures@fleet"
            ])
    }

    @Test("success-after-failures: all on the login's own host is that host's verdict, not the fleet's")
    func failuresOnOneHostAreItsOwn() {
        var fleet = Fleet()
        for _ in 1...3 { _ = fleet.send(.userLoginFailed, "dave", on: "web1", from: "192.0.2.60") }
        #expect(fleet.send(.userLoggedIn, "dave", on: "web1", from: "192.0.2.60").isEmpty)
    }

    @Test("an untrusted sender's failures count on no host, and its logins are not judged")
    func untrustedSendersCountForNothing() {
        var fleet = Fleet()
        for host in ["web1", "web2", "web3"] {
            _ = fleet.send(.userLoginFailed, "erin", on: host, from: "192.0.2.70", trusted: false)
        }
        #expect(fleet.send(.userLoggedIn, "erin", on: "web4", from: "192.0.2.70").isEmpty)
        for host in ["web1", "web2", "web3"] { _ = fleet.send(.userLoginFailed, "erin", on: host, from: "192.0.2.70") }
        #expect(fleet.send(.userLoggedIn, "erin", on: "web4", from: "192.0.2.70", trusted: false).isEmpty)
    }
}
