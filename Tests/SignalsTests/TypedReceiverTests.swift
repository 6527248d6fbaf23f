import Signals
import Testing

@Suite("Typed receivers")
struct TypedReceiverTests {
    struct Refused: Error {}

    @Test func theAnswererResponseComesBackTypedAndOthersAreCalledInOrder() throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        let before = Receiver<Login>("before") { _, login in calls.record("before \(login.user)") }
        let answerer = TypedReceiver<Login, Int>("length") { _, login in
            calls.record("length \(login.user)")
            return login.user.count
        }
        let after = Receiver<Login>("after") { _, _ in
            calls.record("after")
            throw Refused()
        }
        signal.connect(before, weak: false)
        signal.connect(answerer.receiver, weak: false)
        signal.connect(after, weak: false)
        let (answer, responses) = signal.sendRobust(sender: "sshd", Login(user: "alice"), answeredBy: answerer)
        #expect(try answer?.get() == 5)
        #expect(calls.values == ["before alice", "length alice", "after"])
        #expect(responses.map(\.receiver.name) == ["before", "length", "after"])
        #expect((try? responses[1].result.get()) as? Int == 5)
        #expect(throws: Refused.self) { try responses[2].result.get() }
        let dispatched = signal.dispatchRobust(sender: "sshd", Login(user: "bob"), answeredBy: answerer)
        #expect(try dispatched?.get() == 3)
        #expect(calls.values.suffix(3) == ["before bob", "length bob", "after"])
    }

    @Test func aThrowingAnswererGivesItsErrorAndANotConnectedOneNoAnswer() throws {
        let signal = Signal<Login>("login")
        let answerer = TypedReceiver<Login, Int>("refuses") { _, _ in throw Refused() }
        let other = Receiver<Login>("other") { _, _ in }
        signal.connect(other, weak: false)
        #expect(signal.sendRobust(Login(user: "a"), answeredBy: answerer).answer == nil)
        #expect(signal.dispatchRobust(Login(user: "a"), answeredBy: answerer) == nil)
        signal.connect(answerer.receiver, weak: false)
        let (answer, responses) = signal.sendRobust(Login(user: "a"), answeredBy: answerer)
        #expect(throws: Refused.self) { try answer?.get() }
        #expect(responses.count == 2)
        #expect(throws: Refused.self) { try signal.dispatchRobust(Login(user: "a"), answeredBy: answerer)?.get() }
        let onlySSHD = TypedReceiver<Login, Int>("sshd only") { _, _ in 1 }
        signal.connect(onlySSHD.receiver, sender: "sshd", weak: false)
        #expect(signal.sendRobust(sender: "login", Login(user: "a"), answeredBy: onlySSHD).answer == nil)
        #expect(try signal.sendRobust(sender: "sshd", Login(user: "a"), answeredBy: onlySSHD).answer?.get() == 1)
        #expect(signal.dispatchRobust(sender: "login", Login(user: "a"), answeredBy: onlySSHD) == nil)
        #expect(try signal.dispatchRobust(sender: "sshd", Login(user: "a"), answeredBy: onlySSHD)?.get() == 1)
    }
}
