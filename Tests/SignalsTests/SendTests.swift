import Logging
import Signals
import Testing

struct Login: Sendable, Equatable {
    var user: String
}

@Suite("Sending")
struct SendTests {
    @Test func sendWithoutReceiversCallsNothingAndReturnsNoResponses() throws {
        let signal = Signal<Login>("login")
        #expect(signal.isEmpty)
        let responses = try signal.send(sender: "sshd", Login(user: "alice"))
        #expect(responses.isEmpty)
        #expect(signal.sendRobust(sender: "sshd", Login(user: "alice")).isEmpty)
    }

    @Test func sendCallsEveryReceiverInRegistrationOrderWithSenderAndPayload() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        let first = Receiver<Login>("first") { sender, login in calls.record("first \(sender!) \(login.user)") }
        let second = Receiver<Login>("second") { sender, login in
            calls.record("second \(sender!) \(login.user)")
            return login.user.count
        }
        signal.connect(first, weak: false)
        signal.connect(second, weak: false)
        let responses = try signal.send(sender: "sshd", Login(user: "alice"))
        #expect(calls.values == ["first sshd alice", "second sshd alice"])
        #expect(responses.map(\.receiver.name) == ["first", "second"])
        #expect(responses[0].response is Void)
        #expect(responses[1].response as? Int == 5)
    }

    @Test func responsesOfReceiversReturningNothingAreVoidAndInOrder() throws {
        let signal = Signal<Login>("login")
        let receivers = (0..<70).map { index in Receiver<Login>("r\(index)") { _, _ in } }
        for receiver in receivers { signal.connect(receiver, weak: false) }
        let responses = try signal.send(Login(user: "alice"))
        // More receivers than the 64 the allocation-free path can remember.
        #expect(responses.count == 70)
        #expect(responses.map(\.receiver.name) == receivers.map(\.name))
        #expect(responses.allSatisfy { $0.response is Void })
    }

    @Test(arguments: SendWay.allCases)
    func receiverForASenderHearsOnlyThatSenderAndAnySenderReceiversHearAll(way: SendWay) throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        signal.connect(sender: "sshd", name: "sshd-only") { sender, _ in calls.record("sshd-only:\(sender!)") }
        signal.connect(name: "any") { sender, _ in calls.record("any:\(sender.map(\.description) ?? "nil")") }
        try way.send(signal, sender: "sshd", Login(user: "a"))
        try way.send(signal, sender: "login", Login(user: "b"))
        try way.send(signal, Login(user: "c"))
        #expect(calls.values == ["sshd-only:sshd", "any:sshd", "any:login", "any:nil"])
    }

    @Test(arguments: SendWay.allCases)
    func typeAndObjectSendersAreDistinct(way: SendWay) throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        let a = Owner("a")
        let b = Owner("b")
        signal.connect(sender: .type(Owner.self)) { _, _ in calls.record("type") }
        signal.connect(sender: .object(a)) { _, _ in calls.record("object a") }
        try way.send(signal, sender: .type(Owner.self), Login(user: "x"))
        try way.send(signal, sender: .object(a), Login(user: "x"))
        try way.send(signal, sender: .object(b), Login(user: "x"))
        try way.send(signal, sender: .type(Login.self), Login(user: "x"))
        try way.send(signal, sender: "Owner", Login(user: "x"))
        #expect(calls.values == ["type", "object a"])
    }

    @Test(arguments: SendWay.allCases)
    func sendStopsAtTheFirstErrorAndARobustSendLogsItAndGoesOn(way: SendWay) throws {
        let (logger, log) = CapturingLogHandler.logger()
        let signal = Signal<Login>("login", logger: logger)
        let calls = Recorder<String>()
        signal.connect(name: "one") { _, _ in calls.record("one") }
        signal.connect(name: "two") { _, _ in throw Boom(reason: "two") }
        // Returning a value: a receiver the allocation-free paths do not call in place.
        signal.connect(name: "three") { _, _ in
            calls.record("three")
            return 3
        }
        if way.propagatesErrors {
            #expect(throws: Boom(reason: "two")) { try way.send(signal, Login(user: "alice")) }
            #expect(calls.values == ["one"])
            #expect(log.values.isEmpty)
        } else {
            try way.send(signal, Login(user: "alice"))
            #expect(calls.values == ["one", "three"])
            #expect(log.values.map(\.message).count == 1)
            #expect(log.values.first?.metadata["receiver"] == "two")
        }
    }

    @Test func sendRobustReturnsEachErrorAsThatReceiversResultAndLogsIt() {
        let (logger, log) = CapturingLogHandler.logger()
        let signal = Signal<Login>("login", logger: logger)
        let calls = Recorder<String>()
        signal.connect(name: "one") { _, _ in calls.record("one") }
        signal.connect(name: "failing receiver") { _, _ in throw Boom(reason: "two") }
        signal.connect(name: "three") { _, login in
            calls.record("three")
            return login.user
        }
        let results = signal.sendRobust(sender: "sshd", Login(user: "alice"))
        #expect(calls.values == ["one", "three"])
        #expect(results.map(\.receiver.name) == ["one", "failing receiver", "three"])
        guard case .failure(let error) = results[1].result else {
            Issue.record("the failing receiver's result is not its error")
            return
        }
        #expect(error as? Boom == Boom(reason: "two"))
        #expect((try? results[2].result.get()) as? String == "alice")
        let entries = log.values
        #expect(entries.count == 1)
        #expect(entries.first?.level == .error)
        #expect(entries.first?.message.contains("failing receiver") == true)
        #expect(entries.first?.message.contains("boom: two") == true)
        #expect(entries.first?.metadata["receiver"] == "failing receiver")
    }

    @Test func synchronousSendDoesNotRunAsyncReceivers() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        signal.connect(name: "sync") { _, _ in calls.record("sync") }
        signal.connect(name: "async") { (_: Sender?, _: Login) async in calls.record("async") }
        let responses = try signal.send(Login(user: "alice"))
        #expect(calls.values == ["sync"])
        #expect(responses.map(\.receiver.name) == ["sync"])
        for way in SendWay.allCases { try way.send(signal, Login(user: "alice")) }
        #expect(calls.values == Array(repeating: "sync", count: 5))
    }

    @Test(arguments: SendWay.allCases)
    func aDeadWeakReceiverIsSkippedAndPurged(way: SendWay) throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        signal.connect(name: "standing") { _, _ in calls.record("standing") }
        do {
            let owner = Owner("gone")
            signal.connect(owner: owner, weak: true) { owner, _, _ in calls.record(owner.name) }
            try way.send(signal, Login(user: "alice"))
        }
        #expect(signal.registrationCount == 2)
        try way.send(signal, Login(user: "alice"))
        #expect(calls.values == ["standing", "gone", "standing"])
        #expect(signal.registrationCount == 1)
    }
}
