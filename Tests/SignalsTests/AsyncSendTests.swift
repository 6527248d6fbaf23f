import Logging
import Signals
import Testing

@Suite("Async sending")
struct AsyncSendTests {
    @Test func asyncSendRunsSyncReceiversFirstThenAsyncOnesConcurrentlyResultsInOrder() async throws {
        let signal = Signal<Login>("login")
        let calls = Recorder<String>()
        let rendezvous = Rendezvous(expected: 2)
        signal.connect(name: "async 1") { (_: Sender?, _: Login) async -> Bool in
            calls.record("async 1")
            return await rendezvous.meet()
        }
        signal.connect(name: "sync 1") { _, _ in calls.record("sync 1") }
        signal.connect(name: "async 2") { (_: Sender?, _: Login) async -> Bool in
            calls.record("async 2")
            return await rendezvous.meet()
        }
        signal.connect(name: "sync 2") { _, _ in calls.record("sync 2") }

        let responses = try await signal.send(sender: "sshd", Login(user: "alice"))

        #expect(Array(calls.values.prefix(2)) == ["sync 1", "sync 2"])
        #expect(Set(calls.values.suffix(2)) == ["async 1", "async 2"])
        #expect(responses.map(\.receiver.name) == ["sync 1", "sync 2", "async 1", "async 2"])
        // Each async receiver met the other: they ran at the same time.
        #expect(responses[2].response as? Bool == true)
        #expect(responses[3].response as? Bool == true)
    }

    @Test func asyncSendWorksWhenAllReceiversAreAsync() async throws {
        let signal = Signal<Login>("login")
        for index in 0..<5 {
            signal.connect(name: "async \(index)") { (_: Sender?, login: Login) async throws -> String in
                try await Task.sleep(for: .milliseconds(5 - index))
                return "\(login.user) \(index)"
            }
        }
        let responses = try await signal.send(Login(user: "alice"))
        #expect(responses.map { $0.response as? String } == (0..<5).map { "alice \($0)" })
    }

    @Test func asyncSendPropagatesTheFirstError() async {
        let signal = Signal<Login>("login")
        signal.connect(name: "ok") { (_: Sender?, _: Login) async in }
        signal.connect(name: "fails") { (_: Sender?, _: Login) async throws in throw Boom(reason: "async") }
        await #expect(throws: Boom(reason: "async")) { try await signal.send(Login(user: "alice")) }
    }

    @Test func asyncRobustSendReturnsAndLogsTheErrorOfAFailingAsyncReceiver() async {
        let (logger, log) = CapturingLogHandler.logger()
        let signal = Signal<Login>("login", logger: logger)
        signal.connect(name: "sync") { _, login in login.user }
        signal.connect(name: "async fails") { (_: Sender?, _: Login) async throws -> Int in
            throw Boom(reason: "async")
        }
        signal.connect(name: "async ok") { (_: Sender?, _: Login) async -> Int in 42 }

        let results = await signal.sendRobust(sender: "sshd", Login(user: "alice"))

        #expect(results.map(\.receiver.name) == ["sync", "async fails", "async ok"])
        #expect((try? results[0].result.get()) as? String == "alice")
        guard case .failure(let error) = results[1].result else {
            Issue.record("the failing async receiver's result is not its error")
            return
        }
        #expect(error as? Boom == Boom(reason: "async"))
        #expect((try? results[2].result.get()) as? Int == 42)
        #expect(log.values.map(\.level) == [.error])
        #expect(log.values.first?.message.contains("async fails") == true)
    }
}
