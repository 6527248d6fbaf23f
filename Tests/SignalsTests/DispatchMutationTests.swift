import Signals
import Synchronization
import Testing

@Suite("Changing receivers during dispatch")
struct DispatchMutationTests {
    @Test(arguments: SendWay.allCases)
    func receiversThatDisconnectThemselvesDuringDispatchBothRun(way: SendWay) throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        for name in ["first", "second"] {
            signal.connect(dispatchUID: name) { _, _ in
                calls.record(name)
                #expect(signal.disconnect(dispatchUID: name))
            }
        }
        try way.send(signal, Login(user: "alice"))
        #expect(calls.values == ["first", "second"])
        #expect(signal.registrationCount == 0)
        try way.send(signal, Login(user: "alice"))
        #expect(calls.values == ["first", "second"])
    }

    @Test(arguments: SendWay.allCases)
    func receiverConnectedDuringDispatchIsFirstCalledOnTheNextSend(way: SendWay) throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        signal.connect(dispatchUID: "connector") { _, login in
            calls.record("connector \(login.user)")
            signal.connect(dispatchUID: "late") { _, login in calls.record("late \(login.user)") }
        }
        try way.send(signal, Login(user: "one"))
        #expect(calls.values == ["connector one"])
        try way.send(signal, Login(user: "two"))
        #expect(calls.values == ["connector one", "connector two", "late two"])
    }

    @Test(arguments: SendWay.allCases)
    func cacheIsClearedOnEveryConnectAndDisconnect(way: SendWay) throws {
        let signal = Signal<Login>("login", useCaching: true)
        let calls = Recorder<String>()
        signal.connect(sender: "sshd", dispatchUID: "a") { _, _ in calls.record("a") }
        try way.send(signal, sender: "sshd", Login(user: "x"))
        #expect(calls.values == ["a"])

        // A receiver connected after the sender's receivers were cached is still called.
        signal.connect(sender: "sshd", dispatchUID: "b") { _, _ in calls.record("b") }
        try way.send(signal, sender: "sshd", Login(user: "x"))
        #expect(calls.values == ["a", "a", "b"])

        // A disconnected one is no longer called.
        #expect(signal.disconnect(dispatchUID: "a", sender: "sshd"))
        try way.send(signal, sender: "sshd", Login(user: "x"))
        #expect(calls.values == ["a", "a", "b", "b"])

        // Receivers for every sender join cached senders too.
        signal.connect(dispatchUID: "any") { _, _ in calls.record("any") }
        try way.send(signal, sender: "sshd", Login(user: "x"))
        #expect(calls.values == ["a", "a", "b", "b", "b", "any"])
    }

    @Test func oneThousandConcurrentTasksConnectSendAndDisconnectConsistently() async throws {
        let signal = Signal<Login>("login", useCaching: true)
        let total = Atomic<Int>(0)
        signal.connect(dispatchUID: "every sender") { _, _ in total.add(1, ordering: .relaxed) }
        let tasks = 1_000
        let outcomes = await withTaskGroup(of: (calls: Int, disconnected: Bool).self) { group in
            for index in 0..<tasks {
                group.addTask {
                    let own = Atomic<Int>(0)
                    let sender = Sender.named("task \(index)")
                    let receiver = Receiver<Login>("task \(index)") { _, _ in own.add(1, ordering: .relaxed) }
                    signal.connect(receiver, sender: sender, weak: false)
                    _ = try? signal.send(sender: sender, Login(user: "u\(index)"))
                    let disconnected = signal.disconnect(receiver, sender: sender)
                    _ = try? signal.send(sender: sender, Login(user: "u\(index)"))
                    return (own.load(ordering: .relaxed), disconnected)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == tasks)
        #expect(outcomes.allSatisfy { $0.calls == 1 && $0.disconnected })
        #expect(total.load(ordering: .relaxed) == 2 * tasks)
        #expect(signal.registrationCount == 1)
    }
}
