import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Signals
import Synchronization
import Testing

@Suite("Built-in signal catalogue")
struct CatalogueTests {
    @Test func signalsCarryTheirDjangoNames() {
        let names = [
            userLoggedIn.name, userLoggedOut.name, userLoginFailed.name,
            preInit.name, postInit.name, preSave.name, postSave.name, preDelete.name, postDelete.name,
            preMigrate.name, postMigrate.name,
            requestStarted.name, requestFinished.name, gotRequestException.name,
            settingChanged.name, connectionCreated.name,
        ]
        #expect(
            names == [
                "user_logged_in", "user_logged_out", "user_login_failed",
                "pre_init", "post_init", "pre_save", "post_save", "pre_delete", "post_delete",
                "pre_migrate", "post_migrate",
                "request_started", "request_finished", "got_request_exception",
                "setting_changed", "connection_created",
            ])
    }

    @Test func modelSignalsCacheReceiversPerSenderAsDjangoDoes() {
        #expect(preInit.useCaching && preSave.useCaching && postInit.useCaching && postSave.useCaching)
        #expect(preDelete.useCaching && postDelete.useCaching)
        #expect(!userLoggedIn.useCaching)
    }

    @Test func postSaveReceiverFiltersByModelTypeAndReadsTheInstance() throws {
        struct Record: Sendable { let seq: Int64 }
        let seen = Recorder()
        let connection = postSave.connect(sender: .type(Record.self)) { _, payload in
            seen.add("\(payload.instance(as: Record.self)?.seq ?? -1) created=\(payload.created)")
        }
        defer { connection.disconnect() }
        try postSave.send(sender: .type(Record.self), PostSave(instance: Record(seq: 42), created: true, using: "/db"))
        try postSave.send(sender: .type(String.self), PostSave(instance: "x", created: true, using: "/db"))
        #expect(seen.values == ["42 created=true"])
    }

    @Test func loginFailedPayloadCarriesCredentialsAndRequest() throws {
        let seen = Recorder()
        let connection = userLoginFailed.connect(sender: "sshd") { sender, payload in
            seen.add(
                "\(sender!) \(payload.credentials["username"]?.stringValue ?? "?") \(payload.request?["remote_addr"]?.stringValue ?? "?")"
            )
        }
        defer { connection.disconnect() }
        let redactor = Redactor(mode: .mask, key: try RedactionKey(bytes: Array(repeating: 7, count: 32)))
        let event = redactor.redact(
            AuthEvent(
                signal: .userLoginFailed, sender: "sshd",
                request: ["remote_addr": .string("203.0.113.9")],
                credentials: ["username": .string("root"), "password": .string("hunter2")]),
            peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
        try userLoginFailed.send(sender: "sshd", UserLoginFailed(event))
        #expect(seen.values == ["sshd root 203.0.113.9"])
        #expect(UserLoginFailed(event).credentials["password"] == .string(Redactor.mask))
    }

    @Test func jsonValuesRoundTripKeepingIntegersAndNesting() throws {
        let text = #"{"a":[1,2.5,"x",null,true,{"b":-9007199254740993}],"c":{}}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(
            value["a"]
                == .array([
                    .int(1), .double(2.5), .string("x"), .null, .bool(true),
                    .object(["b": .int(-9_007_199_254_740_993)]),
                ]))
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(again == value)
    }
}

/// Collects strings from receivers.
final class Recorder: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ value: String) { storage.withLock { $0.append(value) } }
    var values: [String] { storage.withLock { $0 } }
}
