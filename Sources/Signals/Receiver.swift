/// A function connected to a signal, with an identity.
///
/// A receiver is called with the sender and the signal's payload and may return a response. Its
/// identity is the object identity of the `Receiver` (the counterpart of Python's `id(receiver)`):
/// connecting the same receiver twice for the same sender registers it once. Two receivers that
/// should count as one are given the same dispatch UID at connect time instead.
///
/// A receiver may be *bound to an owner* (the counterpart of a Python bound method): the owner is
/// passed to the body on every call and is never captured strongly by the receiver itself, so a
/// weak connection ends when the owner is deallocated.
public final class Receiver<Payload: Sendable>: Sendable {
    @usableFromInline
    enum Body: Sendable {
        case sync(@Sendable (Sender?, Payload) throws -> Void)
        case syncReturning(@Sendable (Sender?, Payload) throws -> any Sendable)
        case async(@Sendable (Sender?, Payload) async throws -> any Sendable)
    }

    /// The name used in log messages, such as `"AuditStore.record"`.
    public let name: String

    @usableFromInline
    let body: Body

    /// The body of a receiver made with a plain closure returning nothing (`nil` otherwise),
    /// stored as given. Dispatch calls it from here: a closure taken out of an enum case such as
    /// ``Body`` carries the enum's generic calling convention, and every call through it pays
    /// for a conversion thunk.
    let plainBody: (@Sendable (Sender?, Payload) throws -> Void)?

    /// The owner of a bound receiver, held weakly; `nil` for an unbound receiver.
    @usableFromInline
    let ownerReference: WeakReference<any AnyObject & Sendable>?

    /// Whether the receiver must be called with `await` (see `Signal.send(sender:_:) async`).
    public var isAsync: Bool {
        if case .async = body { true } else { false }
    }

    /// The owner of a bound receiver while it is alive.
    public var owner: (any AnyObject & Sendable)? { ownerReference?.object }

    init(
        name: String, body: Body, owner: WeakReference<any AnyObject & Sendable>?,
        plainBody: (@Sendable (Sender?, Payload) throws -> Void)? = nil
    ) {
        self.name = name
        self.body = body
        self.ownerReference = owner
        self.plainBody = plainBody
    }

    /// A synchronous receiver with no response.
    public convenience init(
        _ name: String,
        _ body: @escaping @Sendable (Sender?, Payload) throws -> Void
    ) {
        self.init(name: name, body: .sync(body), owner: nil, plainBody: body)
    }

    /// A synchronous receiver that returns a response.
    public convenience init<Response: Sendable>(
        _ name: String,
        _ body: @escaping @Sendable (Sender?, Payload) throws -> Response
    ) {
        self.init(name: name, body: .syncReturning { try body($0, $1) }, owner: nil)
    }

    /// An asynchronous receiver; it runs only under `await signal.send(...)`.
    public convenience init<Response: Sendable>(
        _ name: String,
        _ body: @escaping @Sendable (Sender?, Payload) async throws -> Response
    ) {
        self.init(name: name, body: .async { try await body($0, $1) }, owner: nil)
    }

    /// A synchronous receiver bound to `owner`, which the receiver holds only weakly.
    public convenience init<Owner: AnyObject & Sendable>(
        _ name: String,
        owner: Owner,
        _ body: @escaping @Sendable (Owner, Sender?, Payload) throws -> Void
    ) {
        let reference = WeakReference<any AnyObject & Sendable>(owner)
        self.init(
            name: name,
            body: .sync { sender, payload in
                // The owner may die between the liveness check and this call.
                guard let owner = reference.object else { return }
                try body(unsafeDowncast(owner, to: Owner.self), sender, payload)
            },
            owner: reference
        )
    }

    /// An asynchronous receiver bound to `owner`, which the receiver holds only weakly.
    public convenience init<Owner: AnyObject & Sendable, Response: Sendable>(
        _ name: String,
        owner: Owner,
        _ body: @escaping @Sendable (Owner, Sender?, Payload) async throws -> Response
    ) {
        let reference = WeakReference<any AnyObject & Sendable>(owner)
        self.init(
            name: name,
            body: .async { sender, payload in
                guard let owner = reference.object else { return () }
                return try await body(unsafeDowncast(owner, to: Owner.self), sender, payload)
            },
            owner: reference
        )
    }
}

extension Receiver: CustomStringConvertible {
    /// The receiver's name.
    public var description: String { name }
}
