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
    private let body: @Sendable (Sender?, Payload) throws -> Response

    /// A synchronous receiver named `name` that returns a `Response`.
    public init(_ name: String, _ body: @escaping @Sendable (Sender?, Payload) throws -> Response) {
        self.body = body
        receiver = Receiver(name, body)
    }

    /// Calls the body: what a send does when it reaches ``receiver``.
    func call(_ sender: Sender?, _ payload: Payload) -> Result<Response, any Error> {
        Result { try body(sender, payload) }
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
        let (receivers, _) = liveReceivers(for: sender)
        var answer: Result<Response, any Error>?
        var results: RobustResponses<Payload> = []
        results.reserveCapacity(receivers.count)
        for receiver in receivers {
            guard receiver === answerer.receiver else {
                if let result = callRobustly(receiver, sender: sender, payload) { results.append((receiver, result)) }
                continue
            }
            let outcome = answerer.call(sender, payload)
            if case .failure(let error) = outcome { logFailure(of: receiver, error) }
            answer = outcome
            results.append((receiver, outcome.map { $0 }))
        }
        return (answer, results)
    }
}
