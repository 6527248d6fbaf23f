import Signals
import Testing

@Suite("Connecting and disconnecting")
struct ConnectTests {
    @Test func weakOwnerDeallocatedMeansReceiverNotCalledAndEntryPurged() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        var owner: Owner? = Owner("session")
        signal.connect(owner: owner!, weak: true) { owner, _, login in calls.record("\(owner.name) \(login.user)") }
        try signal.send(Login(user: "alice"))
        #expect(calls.values == ["session alice"])

        owner = nil
        #expect(signal.registrationCount == 1)  // not purged until the signal notices
        try signal.send(Login(user: "bob"))
        #expect(calls.values == ["session alice"])
        #expect(signal.registrationCount == 0)
        #expect(!signal.hasListeners())
    }

    @Test func strongConnectionKeepsItsOwnerAlive() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        weak var observed: Owner?
        do {
            let owner = Owner("kept")
            observed = owner
            signal.connect(owner: owner, weak: false) { owner, _, _ in calls.record(owner.name) }
        }
        #expect(observed != nil)
        try signal.send(Login(user: "alice"))
        #expect(calls.values == ["kept"])
        #expect(signal.disconnect(dispatchUID: "never-used") == false)
    }

    @Test func weaklyConnectedReceiverEndsWhenTheCallerDropsIt() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        var receiver: Receiver<Login>? = Receiver("temporary") { _, _ in calls.record("called") }
        signal.connect(receiver!, weak: true)
        try signal.send(Login(user: "alice"))
        receiver = nil
        try signal.send(Login(user: "alice"))
        #expect(calls.values == ["called"])
        #expect(signal.registrationCount == 0)
    }

    @Test func deadSenderRegistrationsAreNotInheritedByANewSenderObject() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        // Allocate and free senders until one reuses a dead sender's address: the registration
        // made for the dead one must not fire for the newcomer.
        var reused = false
        for _ in 0..<10_000 {
            var sender: Owner? = Owner("old")
            let oldAddress = ObjectIdentifier(sender!)
            signal.connect(sender: .object(sender!), dispatchUID: "old") { _, _ in calls.record("old") }
            sender = nil
            let newcomer = Owner("new")
            try signal.send(sender: .object(newcomer), Login(user: "alice"))
            #expect(!signal.hasListeners(sender: .object(newcomer)))
            signal.disconnect(dispatchUID: "old", sender: .object(newcomer))
            if ObjectIdentifier(newcomer) == oldAddress {
                reused = true
                break
            }
        }
        #expect(calls.values.isEmpty)
        #expect(reused, "the allocator never reused an address; the test proved nothing")
    }

    @Test func objectSenderRegistrationDiesWithItsSender() throws {
        let signal = Signal<Login>("login")
        var sender: Owner? = Owner("sender")
        signal.connect(sender: .object(sender!)) { _, _ in }
        #expect(signal.hasListeners(sender: .object(sender!)))
        sender = nil
        try signal.send(sender: "other", Login(user: "alice"))
        #expect(signal.registrationCount == 0)
    }

    @Test func connectingTheSameReceiverTwiceRegistersItOnce() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        let receiver = Receiver<Login>("once") { _, _ in calls.record("once") }
        signal.connect(receiver, weak: false)
        signal.connect(receiver, weak: false)
        signal.connect(receiver, weak: true)
        #expect(signal.registrationCount == 1)
        try signal.send(Login(user: "alice"))
        #expect(calls.values == ["once"])
        // The same receiver for another sender is another registration.
        signal.connect(receiver, sender: "sshd", weak: false)
        #expect(signal.registrationCount == 2)
    }

    @Test func twoReceiversWithOneDispatchUIDMakeOneEntryAndTheFirstWins() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        signal.connect(dispatchUID: "audit") { _, _ in calls.record("first") }
        signal.connect(dispatchUID: "audit") { _, _ in calls.record("second") }
        #expect(signal.registrationCount == 1)
        try signal.send(Login(user: "alice"))
        #expect(calls.values == ["first"])
        #expect(signal.disconnect(dispatchUID: "audit"))
        #expect(signal.registrationCount == 0)
    }

    /// Django tests `if dispatch_uid:`: an empty UID is no UID, so two receivers connected with
    /// one are two registrations, each identified by its receiver.
    @Test func anEmptyDispatchUIDIsNoUID() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        let first = Receiver<Login>("first") { _, _ in calls.record("first") }
        let second = Receiver<Login>("second") { _, _ in calls.record("second") }
        signal.connect(first, weak: false, dispatchUID: "")
        signal.connect(second, weak: false, dispatchUID: "")
        signal.connect(first, weak: false, dispatchUID: "")
        #expect(signal.registrationCount == 2)
        try signal.send(Login(user: "alice"))
        #expect(calls.values == ["first", "second"])
        #expect(signal.disconnect(dispatchUID: "") == false)
        #expect(signal.disconnect(first))
        #expect(signal.registrationCount == 1)
    }

    @Test func disconnectReportsWhetherItRemovedSomething() {
        let signal = Signal<Login>("login")
        let receiver = Receiver<Login>("r") { _, _ in }
        #expect(signal.disconnect(receiver) == false)
        signal.connect(receiver, sender: "sshd", weak: false)
        // The sender must be the one used at connect.
        #expect(signal.disconnect(receiver) == false)
        #expect(signal.disconnect(receiver, sender: "login") == false)
        #expect(signal.disconnect(receiver, sender: "sshd") == true)
        #expect(signal.disconnect(receiver, sender: "sshd") == false)

        let connection = signal.connect(receiver, weak: false)
        #expect(connection.disconnect() == true)
        #expect(connection.disconnect() == false)
    }

    @Test func hasListenersWithAndWithoutSender() {
        let signal = Signal<Login>("login")
        #expect(!signal.hasListeners())
        #expect(!signal.hasListeners(sender: "sshd"))

        let specific = signal.connect(sender: "sshd") { _, _ in }
        #expect(signal.hasListeners(sender: "sshd"))
        #expect(!signal.hasListeners(sender: "login"))
        // With no sender only receivers for every sender count.
        #expect(!signal.hasListeners())

        signal.connect { _, _ in }
        #expect(signal.hasListeners())
        #expect(signal.hasListeners(sender: "login"))
        specific.disconnect()
        #expect(signal.hasListeners(sender: "sshd"))
    }
}
