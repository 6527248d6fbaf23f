/// A receiver declared for one or more signals: the counterpart of Django's `@receiver`
/// decorator, used inside a ``SignalComponent``'s ``SignalComponent/receivers``.
///
/// ```swift
/// struct Auditing: SignalComponent {
///     var receivers: [ReceiverDeclaration] {
///         receiver(userLoggedIn, sender: "sshd") { sender, event in … }
///         receiver([preSave, postSave]) { sender, event in … }
///     }
/// }
/// ```
///
/// A declaration always connects with a dispatch UID: the one given, or the place in the source
/// where it is declared, under the component's ``SignalComponent/label``. Connecting it again is
/// therefore a no-op, which is what makes ``SignalComponent/ready()`` safe to call twice.
public struct ReceiverDeclaration: Sendable {
    let connectAll: @Sendable (_ namespace: String) -> Void
    let disconnectAll: @Sendable (_ namespace: String) -> Int

    /// Connects the declared receiver under `namespace` (normally a component's label).
    public func connect(namespace: String) { connectAll(namespace) }

    /// Disconnects what ``connect(namespace:)`` connected.
    /// - Returns: how many registrations were removed.
    @discardableResult
    public func disconnect(namespace: String) -> Int { disconnectAll(namespace) }
}

/// Declares `body` as a receiver of every signal in `signals` (Django's
/// `@receiver([signal_a, signal_b], sender=…)`).
/// - Parameters:
///   - signals: the signals to connect to.
///   - sender: hear only this sender; `nil` hears every sender.
///   - dispatchUID: the registration's UID under the component's label; by default the place of
///     the declaration in the source.
///   - body: the receiver.
public func receiver<Payload: Sendable>(
    _ signals: [Signal<Payload>],
    sender: Sender? = nil,
    dispatchUID: String? = nil,
    fileID: String = #fileID,
    line: Int = #line,
    _ body: @escaping @Sendable (Sender?, Payload) throws -> Void
) -> ReceiverDeclaration {
    let uid = dispatchUID ?? "\(fileID):\(line)"
    let handler = Receiver<Payload>(uid, body)
    return declaration(signals, handler, sender, uid)
}

/// Declares `body` as a receiver of `signal` (Django's `@receiver(signal, sender=…)`).
public func receiver<Payload: Sendable>(
    _ signal: Signal<Payload>,
    sender: Sender? = nil,
    dispatchUID: String? = nil,
    fileID: String = #fileID,
    line: Int = #line,
    _ body: @escaping @Sendable (Sender?, Payload) throws -> Void
) -> ReceiverDeclaration {
    receiver([signal], sender: sender, dispatchUID: dispatchUID, fileID: fileID, line: line, body)
}

/// Declares the asynchronous `body` as a receiver of every signal in `signals`.
public func receiver<Payload: Sendable>(
    _ signals: [Signal<Payload>],
    sender: Sender? = nil,
    dispatchUID: String? = nil,
    fileID: String = #fileID,
    line: Int = #line,
    _ body: @escaping @Sendable (Sender?, Payload) async throws -> Void
) -> ReceiverDeclaration {
    let uid = dispatchUID ?? "\(fileID):\(line)"
    let handler = Receiver<Payload>(uid, body)
    return declaration(signals, handler, sender, uid)
}

/// Declares the asynchronous `body` as a receiver of `signal`.
public func receiver<Payload: Sendable>(
    _ signal: Signal<Payload>,
    sender: Sender? = nil,
    dispatchUID: String? = nil,
    fileID: String = #fileID,
    line: Int = #line,
    _ body: @escaping @Sendable (Sender?, Payload) async throws -> Void
) -> ReceiverDeclaration {
    receiver([signal], sender: sender, dispatchUID: dispatchUID, fileID: fileID, line: line, body)
}

private func declaration<Payload>(
    _ signals: [Signal<Payload>], _ handler: Receiver<Payload>, _ sender: Sender?, _ uid: String
) -> ReceiverDeclaration {
    ReceiverDeclaration(
        connectAll: { namespace in
            for signal in signals {
                signal.connect(handler, sender: sender, weak: false, dispatchUID: "\(namespace)/\(uid)")
            }
        },
        disconnectAll: { namespace in
            signals.reduce(0) { removed, signal in
                removed + (signal.disconnect(dispatchUID: "\(namespace)/\(uid)", sender: sender) ? 1 : 0)
            }
        }
    )
}

/// Collects ``ReceiverDeclaration``s written one per line.
@resultBuilder
public enum ReceiversBuilder {
    /// One declaration.
    public static func buildExpression(_ declaration: ReceiverDeclaration) -> [ReceiverDeclaration] {
        [declaration]
    }

    /// Several declarations, such as those of another component.
    public static func buildExpression(_ declarations: [ReceiverDeclaration]) -> [ReceiverDeclaration] {
        declarations
    }

    /// The declarations of a block, in order.
    public static func buildBlock(_ parts: [ReceiverDeclaration]...) -> [ReceiverDeclaration] {
        parts.flatMap(\.self)
    }

    /// Declarations under an `if`.
    public static func buildOptional(_ part: [ReceiverDeclaration]?) -> [ReceiverDeclaration] {
        part ?? []
    }

    /// The first branch of an `if`/`else`.
    public static func buildEither(first part: [ReceiverDeclaration]) -> [ReceiverDeclaration] {
        part
    }

    /// The second branch of an `if`/`else`.
    public static func buildEither(second part: [ReceiverDeclaration]) -> [ReceiverDeclaration] {
        part
    }

    /// Declarations made in a `for` loop.
    public static func buildArray(_ parts: [[ReceiverDeclaration]]) -> [ReceiverDeclaration] {
        parts.flatMap(\.self)
    }
}

/// A component that connects its receivers once: the counterpart of Django's `AppConfig.ready()`.
///
/// Declare receivers in ``receivers`` and call ``ready()`` at start-up. Every declaration
/// connects with a dispatch UID under ``label``, so calling `ready()` again registers nothing new.
public protocol SignalComponent: Sendable {
    /// The namespace of this component's dispatch UIDs; by default its type name. Two instances
    /// of one type that must both be connected need different labels.
    var label: String { get }

    /// The receivers this component connects.
    @ReceiversBuilder var receivers: [ReceiverDeclaration] { get }

    /// Connects ``receivers``; idempotent.
    func ready()
}

extension SignalComponent {
    /// The component's type name.
    public var label: String { String(reflecting: Self.self) }

    /// Connects every declared receiver. Calling it again connects nothing new.
    public func ready() {
        for declaration in receivers { declaration.connect(namespace: label) }
    }

    /// Disconnects every declared receiver.
    /// - Returns: how many registrations were removed.
    @discardableResult
    public func unready() -> Int {
        receivers.reduce(0) { $0 + $1.disconnect(namespace: label) }
    }
}
