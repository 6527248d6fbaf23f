/// Who sends a signal: a name (`"sshd"`), a type, or an object.
///
/// Receivers may be connected for one sender only; a receiver connected with no sender hears every
/// sender. An object sender is held weakly by the registrations made for it: when the object is
/// deallocated, those registrations die with it, and a new object that happens to reuse its memory
/// address never inherits them.
public struct Sender: Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    @usableFromInline
    enum Identity: Sendable {
        case name(String)
        case type(ObjectIdentifier, String)
        case object(any AnyObject & Sendable)
    }

    @usableFromInline
    let identity: Identity

    /// A sender identified by name, such as the service that reported an event.
    public static func named(_ name: String) -> Sender { Sender(identity: .name(name)) }

    /// A sender identified by a type, as Django's model signals use the model class.
    public static func type<T>(_ type: T.Type) -> Sender {
        Sender(identity: .type(ObjectIdentifier(type), String(reflecting: type)))
    }

    /// A sender identified by one object's identity. Registrations hold it weakly.
    public static func object(_ object: some AnyObject & Sendable) -> Sender {
        Sender(identity: .object(object))
    }

    @usableFromInline
    init(identity: Identity) {
        self.identity = identity
    }

    /// Creates a named sender from a string literal: `signal.send(sender: "sshd", payload)`.
    public init(stringLiteral value: String) {
        self.identity = .name(value)
    }

    /// The sender's name, type name, or the object's type and address.
    public var description: String {
        switch identity {
        case .name(let name): name
        case .type(_, let name): name
        case .object(let object): "\(Swift.type(of: object))@\(ObjectIdentifier(object).debugDescription)"
        }
    }

    /// The name of a named sender, else `nil`.
    public var name: String? {
        if case .name(let name) = identity { name } else { nil }
    }

    /// The object of an object sender, else `nil`.
    public var object: (any AnyObject & Sendable)? {
        if case .object(let object) = identity { object } else { nil }
    }

    /// Whether this sender is the given type.
    public func `is`<T>(_ type: T.Type) -> Bool {
        if case .type(let id, _) = identity { id == ObjectIdentifier(type) } else { false }
    }
}

/// The sender a registration is bound to; object senders are held weakly.
@usableFromInline
enum SenderKey: Sendable {
    case any
    case name(String)
    case type(ObjectIdentifier)
    case object(ObjectIdentifier, WeakReference<any AnyObject & Sendable>)

    @usableFromInline
    init(_ sender: Sender?) {
        guard let sender else {
            self = .any
            return
        }
        switch sender.identity {
        case .name(let name): self = .name(name)
        case .type(let id, _): self = .type(id)
        case .object(let object): self = .object(ObjectIdentifier(object), WeakReference(object))
        }
    }

    /// Whether the key's sender still exists (only object senders can die).
    @usableFromInline
    var isAlive: Bool {
        if case .object(_, let reference) = self { reference.object != nil } else { true }
    }

    /// Whether this key is the same registration sender as `other` (used for identity).
    @usableFromInline
    func sameSender(as other: SenderKey) -> Bool {
        switch (self, other) {
        case (.any, .any): true
        case (.name(let a), .name(let b)): a == b
        case (.type(let a), .type(let b)): a == b
        case (.object(let a, let ra), .object(let b, let rb)):
            // Identical addresses name the same object only while both are alive.
            a == b && ra.object != nil && rb.object != nil
        default: false
        }
    }

    /// Whether a registration under this key hears `sender` (`nil`: no sender).
    @inlinable
    func hears(_ sender: Sender?) -> Bool {
        switch self {
        case .any: return true
        case .name(let name):
            guard case .name(let other)? = sender?.identity else { return false }
            return name == other
        case .type(let id):
            guard case .type(let other, _)? = sender?.identity else { return false }
            return id == other
        case .object(let id, let reference):
            guard case .object(let other)? = sender?.identity, ObjectIdentifier(other) == id else {
                return false
            }
            // The sender is alive (the caller holds it); the registration's object must be that
            // same object, not a dead one whose address was reused.
            return reference.object === other
        }
    }
}
