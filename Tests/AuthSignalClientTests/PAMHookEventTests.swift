import AuthSignalProtocol
import Foundation
import TestSupport
import Testing

@testable import AuthSignalClient

/// The event the PAM hook makes of pam_exec's environment: no daemon, no spool.
@Suite("PAM hook events")
struct PAMHookEventTests {
    static let time = Date(timeIntervalSince1970: 1_700_000_000.123456)

    @Test func eachStackRecordsItsSignalAndOthersNothing() throws {
        let environment = [
            "PAM_USER": "alice", "PAM_SERVICE": "sshd", "PAM_RHOST": "192.0.2.7", "PAM_TTY": "ssh",
            "PAM_RUSER": "bob",
        ]
        let signals = [
            "auth": AuthSignal.userLoginFailed, "open_session": .userLoggedIn, "close_session": .userLoggedOut,
        ]
        for (type, signal) in signals {
            let event = try #require(
                PAMHook.event(environment: environment.merging(["PAM_TYPE": type]) { $1 }, id: "pam-1", time: Self.time)
            )
            #expect(event.signal == signal && event.sender == "sshd" && event.user == "alice" && event.id == "pam-1")
            #expect(event.request?["remote_addr"] == .string("192.0.2.7"))
            #expect(event.request?["remote_user"] == .string("bob"))
            #expect(event.time == RFC3339.parse(RFC3339.format(Self.time)))
            // A failure is no session: it carries no pairing key.
            #expect((event.request?["pairing"] == nil) == (signal == .userLoginFailed))
        }
        for type in ["account", "password", "", "open_session "] {
            #expect(
                PAMHook.event(environment: ["PAM_TYPE": type, "PAM_USER": "alice"], id: "x", time: Self.time) == nil)
        }
    }

    @Test func longValuesAreCutAtACharacterAndNamed() throws {
        let user = String(repeating: "é", count: 600)
        let event = try #require(
            PAMHook.event(
                environment: ["PAM_TYPE": "auth", "PAM_USER": user, "PAM_SERVICE": ""], id: "pam-2", time: Self.time))
        #expect(event.user?.utf8.count == PAMHook.maximumUserBytes)
        #expect(event.user?.allSatisfy { $0 == "é" } == true)
        #expect(event.request?["truncated"] == .array([.string("user")]))
        // No service: the sender says it came from PAM.
        #expect(event.sender == "pam")
    }

    @Test func thePairingKeyNamesTheBootTheApplicationTheServiceAndTheTTY() throws {
        let directory = try TemporaryDirectory()
        let bootID = directory.path + "/boot_id"
        try "0f1e2d3c-boot\n".write(toFile: bootID, atomically: true, encoding: .utf8)
        let key = PAMHook.pairingKey(
            environment: ["PAM_SERVICE": "login", "PAM_TTY": "tty1"], parent: 4711, bootIDPath: bootID)
        #expect(key == "0f1e2d3c-boot/4711/login/tty1")
        #expect(PAMHook.pairingKey(environment: [:], parent: 1, bootIDPath: directory.path + "/none") == nil)
    }
}
