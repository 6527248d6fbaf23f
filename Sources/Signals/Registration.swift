/// One connected receiver: its identity, the sender it hears, and how it is held.
@usableFromInline
final class Registration<Payload: Sendable>: Sendable {
    /// The registration identity next to the sender: a dispatch UID or the receiver's identity.
    @usableFromInline
    enum Key: Sendable, Equatable {
        case uid(String)
        case receiver(ObjectIdentifier)
    }

    @usableFromInline let key: Key
    @usableFromInline let senderKey: SenderKey
    /// Set when the receiver is held strongly (`weak: false`, or a bound receiver).
    @usableFromInline let strongReceiver: Receiver<Payload>?
    /// Set when an unbound receiver is held weakly (`weak: true`).
    @usableFromInline let weakReceiver: WeakReference<Receiver<Payload>>?
    /// Keeps a bound receiver's owner alive for `weak: false`.
    @usableFromInline let strongOwner: (any AnyObject & Sendable)?
    /// True when nothing this registration refers to can die: the fast path of dispatch.
    @usableFromInline let isImmortal: Bool
    /// True when the receiver can be reported without holding a reference of its own and
    /// returns nothing, so dispatch needs to remember only that it was called.
    @usableFromInline let isPlainSync: Bool
    /// The body of an immortal unbound receiver made with a plain closure, so that the common
    /// dispatch path calls it without touching the receiver.
    let immortalBody: (@Sendable (Sender?, Payload) throws -> Void)?

    init(key: Key, senderKey: SenderKey, receiver: Receiver<Payload>, weak: Bool) {
        self.key = key
        self.senderKey = senderKey
        let bound = receiver.ownerReference != nil
        if weak && !bound {
            strongReceiver = nil
            weakReceiver = WeakReference(receiver)
        } else {
            strongReceiver = receiver
            weakReceiver = nil
        }
        strongOwner = weak ? nil : receiver.owner
        var senderCanDie = false
        if case .object = senderKey { senderCanDie = true }
        isImmortal = !weak && !senderCanDie
        if case .sync = receiver.body, strongReceiver != nil {
            isPlainSync = true
            immortalBody = isImmortal && receiver.ownerReference == nil ? receiver.plainBody : nil
        } else {
            isPlainSync = false
            immortalBody = nil
        }
    }

    /// The receiver if it, its owner and its sender are all alive.
    @inlinable
    var liveReceiver: Receiver<Payload>? {
        if isImmortal { return strongReceiver }
        guard senderKey.isAlive else { return nil }
        if let strongReceiver {
            if strongOwner == nil, let owner = strongReceiver.ownerReference, owner.object == nil {
                return nil
            }
            return strongReceiver
        }
        return weakReceiver?.object
    }

    /// Whether this registration has the identity (`key`, `sender`).
    func matches(_ key: Key, _ sender: SenderKey) -> Bool {
        self.key == key && senderKey.sameSender(as: sender)
    }
}

/// What dispatch needs of one registration, in a contiguous array: the sender filter and, for
/// the common case of an immortal synchronous receiver that returns nothing, its body. Walking
/// these costs one reference count per receiver, like a plain array of closures.
@usableFromInline
struct DispatchEntry<Payload: Sendable>: Sendable {
    @usableFromInline let senderKey: SenderKey
    /// The receiver's body when `isImmortalPlainSync`, else a body that is never called. Not
    /// optional, so that dispatch calls it in place without copying it.
    @usableFromInline let immortalBody: @Sendable (Sender?, Payload) throws -> Void
    /// Whether `immortalBody` is the receiver's.
    @usableFromInline let isImmortalPlainSync: Bool
    /// Whether the receiver, its owner or its sender can die, so that dispatch should notice.
    @usableFromInline let isMortal: Bool

    @usableFromInline
    init(_ registration: Registration<Payload>) {
        senderKey = registration.senderKey
        if let body = registration.immortalBody {
            immortalBody = body
            isImmortalPlainSync = true
        } else {
            immortalBody = { _, _ in }
            isImmortalPlainSync = false
        }
        isMortal = !registration.isImmortal
    }
}

/// An immutable list of registrations, replaced as a whole on every change, so that a send takes
/// one reference under the lock and dispatches outside it.
@usableFromInline
final class Snapshot<Payload: Sendable>: Sendable {
    @usableFromInline let registrations: [Registration<Payload>]
    @usableFromInline let entries: ContiguousArray<DispatchEntry<Payload>>

    @usableFromInline
    init(_ registrations: [Registration<Payload>]) {
        self.registrations = registrations
        self.entries = ContiguousArray(registrations.map(DispatchEntry.init))
    }

    /// Whether entry `index` of `entries` (this snapshot's, read in place) hears `sender`. A
    /// registration found dead is noted in `sawDead` even when it would not hear `sender`, so that
    /// the send purges it.
    @inlinable
    func hears(
        at index: Int, of entries: UnsafeBufferPointer<DispatchEntry<Payload>>, _ sender: Sender?,
        sawDead: inout Bool
    ) -> Bool {
        if entries[index].senderKey.hears(sender) { return true }
        if entries[index].isMortal && registrations[index].liveReceiver == nil { sawDead = true }
        return false
    }
}
