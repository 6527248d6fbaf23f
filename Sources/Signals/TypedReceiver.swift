/// A receiver whose response type is known to whoever holds it, so that a send can hand that
/// response back typed.
///
/// Django's `send_robust` returns `(receiver, response)` pairs and the caller finds its own
/// receiver's response by identity; in Swift that response would be `any Sendable` and need a
/// cast. Sending with ``Signal/sendRobust(sender:_:answeredBy:)`` calls this receiver's typed body
/// directly and returns its outcome typed, while every other receiver is called as usual.
public final class TypedReceiver<Payload: Sendable, Response: Sendable>: Sendable {
    /// The receiver to connect (its identity is this typed receiver's).
    public let receiver: Receiver<Payload>
    @usableFromInline let body: @Sendable (Sender?, Payload) throws -> Response

    /// A synchronous receiver named `name` that returns a `Response`.
    public init(_ name: String, _ body: @escaping @Sendable (Sender?, Payload) throws -> Response) {
        self.body = body
        receiver = Receiver(name, body)
    }

    /// Calls the body, as a robust send of `signal` does when it reaches ``receiver``: an error
    /// is logged as that signal's receivers' errors are, and returned.
    @inlinable
    func answer(_ sender: Sender?, _ payload: Payload, for signal: Signal<Payload>) -> Result<Response, any Error> {
        let outcome = Result { try body(sender, payload) }
        if case .failure(let error) = outcome { signal.logFailure(of: receiver, error) }
        return outcome
    }
}

extension Signal {
    /// Sends like ``sendRobust(sender:_:)`` and also returns the outcome of `answerer`: its typed
    /// response or the error it threw, or `nil` when the send did not call it (it is not
    /// connected, or does not hear `sender`).
    public func sendRobust<Response>(
        sender: Sender? = nil, _ payload: Payload, answeredBy answerer: TypedReceiver<Payload, Response>
    ) -> (answer: Result<Response, any Error>?, responses: RobustResponses<Payload>) {
        if isEmpty { return (nil, []) }
        var answer: Result<Response, any Error>?
        var results: RobustResponses<Payload> = []
        forEachLiveReceiver(hearing: sender) { receiver in
            guard receiver === answerer.receiver else {
                if let result = callRobustly(receiver, sender: sender, payload) { results.append((receiver, result)) }
                return
            }
            let outcome = answerer.answer(sender, payload, for: self)
            answer = outcome
            results.append((receiver, outcome.map { $0 }))
        }
        return (answer, results)
    }

    /// Sends like ``sendRobust(sender:_:answeredBy:)`` and returns only `answerer`'s outcome, or
    /// `nil` when the send did not call it: no list of the other receivers' results is built.
    /// The send for one event on a daemon's hot path, where only the answerer's response is used.
    ///
    /// Every receiver is still called, in order, and the others' errors are still logged.
    @inlinable
    public func dispatchRobust<Response>(
        sender: Sender? = nil, _ payload: Payload, answeredBy answerer: TypedReceiver<Payload, Response>
    ) -> Result<Response, any Error>? {
        if isEmpty { return nil }
        var answer: Result<Response, any Error>?
        forEachLiveReceiver(hearing: sender) { receiver in
            guard receiver === answerer.receiver else {
                _ = callRobustly(receiver, sender: sender, payload)
                return
            }
            answer = answerer.answer(sender, payload, for: self)
        }
        return answer
    }
}
