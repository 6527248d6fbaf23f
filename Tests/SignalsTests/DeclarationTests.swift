import Signals
import Testing

let loginSignal = Signal<Login>("test_login")
let logoutSignal = Signal<Login>("test_logout")
let failureSignal = Signal<Login>("test_failure")

/// A component declaring receivers the way an app config would.
struct AuditComponent: SignalComponent {
    let calls: Recorder<String>
    let label: String

    var receivers: [ReceiverDeclaration] {
        receiver(loginSignal) { _, login in calls.record("login \(login.user)") }
        receiver([logoutSignal, failureSignal], sender: "sshd") { _, login in
            calls.record("logout-or-failure \(login.user)")
        }
    }
}

@Suite("Declarative receivers and ready()", .serialized)
struct DeclarationTests {
    @Test func declarationOnOneSignalConnectsIt() throws {
        let calls = Recorder<String>()
        let component = AuditComponent(calls: calls, label: "one-signal")
        component.ready()
        defer { component.unready() }
        try loginSignal.send(sender: "sshd", Login(user: "alice"))
        #expect(calls.values == ["login alice"])
    }

    @Test func declarationOnAListOfSignalsConnectsEachWithItsSender() throws {
        let calls = Recorder<String>()
        let component = AuditComponent(calls: calls, label: "list")
        component.ready()
        defer { component.unready() }
        try logoutSignal.send(sender: "sshd", Login(user: "bob"))
        try failureSignal.send(sender: "sshd", Login(user: "carol"))
        try failureSignal.send(sender: "login", Login(user: "dave"))
        #expect(calls.values == ["logout-or-failure bob", "logout-or-failure carol"])
        #expect(logoutSignal.hasListeners(sender: "sshd"))
        #expect(!logoutSignal.hasListeners())
    }

    @Test func readyTwiceDoesNotRegisterTwice() throws {
        let calls = Recorder<String>()
        let component = AuditComponent(calls: calls, label: "twice")
        component.ready()
        component.ready()
        defer { component.unready() }
        #expect(loginSignal.registrationCount == 1)
        #expect(logoutSignal.registrationCount == 1)
        try loginSignal.send(Login(user: "alice"))
        #expect(calls.values == ["login alice"])
        #expect(component.unready() == 3)
        #expect(loginSignal.registrationCount == 0)
    }

    @Test func componentsWithDifferentLabelsRegisterSeparately() {
        let first = AuditComponent(calls: Recorder(), label: "first")
        let second = AuditComponent(calls: Recorder(), label: "second")
        first.ready()
        second.ready()
        #expect(loginSignal.registrationCount == 2)
        #expect(first.unready() == 3)
        #expect(second.unready() == 3)
    }
}
