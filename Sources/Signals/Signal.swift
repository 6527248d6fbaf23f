public import Logging
public import Synchronization

/// A signal: senders announce that something happened, and every connected receiver is told.
///
/// This is a port of Django's `django.dispatch.Signal`. Receivers are called with the sender and
/// a typed payload (Django's keyword arguments) and may return a response. A signal is `Sendable`
/// and thread-safe: a send takes a snapshot of the registrations without a lock and calls the
/// receivers on it, so a receiver may connect or disconnect receivers while a send is under way;
/// a receiver connected during a send is first called by the next send.
///
/// ```swift
/// let userLoggedIn = Signal<UserLoggedIn>("user_logged_in")
/// userLoggedIn.connect(sender: "sshd") { sender, payload in print(payload.user) }
/// try userLoggedIn.send(sender: "sshd", UserLoggedIn(redactedEvent))
/// ```
public final class Signal<Payload: Sendable>: Sendable {
    /// The signal's name, used in log messages.
    public let name: String
    /// Whether receivers are cached per sender (Django's `use_caching`): a send for a sender seen
    /// before does not filter the receiver list again. The cache is cleared on every connect and
    /// disconnect.
    public let useCaching: Bool

    @usableFromInline let logger: Logger
    @usableFromInline let state = Mutex(State())
    /// The registrations as sends see them, replaced (under `state`'s lock) on every change.
    @usableFromInline let published = SnapshotSlot<Payload>(Snapshot([]))
    /// The number of registrations, readable without the lock: a send or `hasListeners` with
    /// nobody connected costs one relaxed atomic load.
    @usableFromInline let registrationTotal = Atomic<Int>(0)

    @usableFromInline
    struct State: ~Copyable {
        /// The registrations in registration order.
        @usableFromInline var registrations: [Registration<Payload>] = []
        /// With caching: the snapshot of the registrations that hear each sender.
        @usableFromInline var cache: [CacheKey: Snapshot<Payload>] = [:]

        @usableFromInline
        init() {}
    }

    /// The sender→receivers cache key; liveness is still checked on every call.
    @usableFromInline
    enum CacheKey: Hashable {
        case any
        case name(String)
        case type(ObjectIdentifier)
        case object(ObjectIdentifier)

        @inlinable
        init(_ sender: Sender?) {
            switch sender?.identity {
            case nil: self = .any
            case .name(let name): self = .name(name)
            case .type(let id, _): self = .type(id)
            case .object(let object): self = .object(ObjectIdentifier(object))
            }
        }
    }

    /// The most senders the cache remembers before it starts afresh, so that senders named by
    /// clients cannot grow it without bound.
    @usableFromInline
    static var cacheLimit: Int { 1024 }

    /// Creates a signal.
    /// - Parameters:
    ///   - name: the name used in log messages, such as `"user_logged_in"`.
    ///   - useCaching: cache the receivers of each sender (see ``useCaching``).
    ///   - logger: where `sendRobust` logs receiver errors.
    public init(_ name: String, useCaching: Bool = false, logger: Logger? = nil) {
        self.name = name
        self.useCaching = useCaching
        self.logger = logger ?? Logger(label: "authsignal.signals")
    }

    // MARK: Connecting

    /// Connects `receiver` to this signal.
    ///
    /// The registration identity is (`dispatchUID` or the receiver's identity, `sender`). When a
    /// registration with that identity exists, nothing changes: the first one wins, even if it has
    /// a different receiver under the same UID.
    ///
    /// - Parameters:
    ///   - receiver: the receiver to call.
    ///   - sender: hear only this sender; `nil` hears every sender.
    ///   - weak: hold the receiver weakly (Django's default). A bound receiver's owner is then held
    ///     weakly and the registration ends when the owner is deallocated; an unbound receiver is
    ///     itself held weakly and ends when the caller drops it. With `false` both are kept alive
    ///     until disconnected.
    ///   - dispatchUID: an identity to use instead of the receiver's; `nil` or empty uses the
    ///     receiver's (Django tests `if dispatch_uid:`, so an empty UID is no UID).
    /// - Returns: a connection that can disconnect this registration.
    @discardableResult
    public func connect(
        _ receiver: Receiver<Payload>,
        sender: Sender? = nil,
        weak: Bool = true,
        dispatchUID: String? = nil
    ) -> Connection {
        let key: Registration<Payload>.Key =
            dispatchUID.flatMap { $0.isEmpty ? nil : .uid($0) } ?? .receiver(ObjectIdentifier(receiver))
        let senderKey = SenderKey(sender)
        state.withLock { state in
            purgeDead(&state)
            let exists = state.registrations.contains { registration in
                guard registration.matches(key, senderKey) else { return false }
                if case .receiver = key {
                    // After the purge every entry is alive, so an equal address is the same
                    // receiver; compare the reference anyway to be exact.
                    return registration.liveReceiver === receiver
                }
                return true
            }
            if !exists {
                state.registrations.append(
                    Registration(key: key, senderKey: senderKey, receiver: receiver, weak: weak)
                )
                published.publish(Snapshot(state.registrations))
            }
            state.cache.removeAll()
            registrationTotal.store(state.registrations.count, ordering: .relaxed)
        }
        return Connection(signal: self, key: key, senderKey: senderKey)
    }

    /// Disconnects `receiver` as connected for `sender` (which must be the sender used at connect).
    /// - Returns: `true` when a registration was removed.
    @discardableResult
    public func disconnect(_ receiver: Receiver<Payload>, sender: Sender? = nil) -> Bool {
        disconnect(key: .receiver(ObjectIdentifier(receiver)), senderKey: SenderKey(sender))
    }

    /// Disconnects the registration made with `dispatchUID` for `sender`.
    /// - Returns: `true` when a registration was removed (never for an empty UID, which no
    ///   registration has).
    @discardableResult
    public func disconnect(dispatchUID: String, sender: Sender? = nil) -> Bool {
        guard !dispatchUID.isEmpty else { return false }
        return disconnect(key: .uid(dispatchUID), senderKey: SenderKey(sender))
    }

    func disconnect(key: Registration<Payload>.Key, senderKey: SenderKey) -> Bool {
        state.withLock { state in
            purgeDead(&state)
            var removed = false
            if let index = state.registrations.firstIndex(where: { $0.matches(key, senderKey) }) {
                state.registrations.remove(at: index)
                published.publish(Snapshot(state.registrations))
                removed = true
            }
            state.cache.removeAll()
            registrationTotal.store(state.registrations.count, ordering: .relaxed)
            return removed
        }
    }

    // MARK: Inspecting

    /// Whether any live receiver would hear `sender`. With no sender, only receivers connected
    /// for every sender count (as in Django).
    ///
    /// With nothing connected this is a single atomic load, so it guards expensive payload
    /// construction on hot paths:
    /// `if signal.hasListeners(sender: s) { try signal.send(sender: s, makePayload()) }`.
    @inlinable
    public func hasListeners(sender: Sender? = nil) -> Bool {
        if isEmpty { return false }
        return hasLiveListener(sender: sender)
    }

    /// True when nothing at all is connected.
    @inlinable
    public var isEmpty: Bool { storedRegistrationCount == 0 }

    @usableFromInline
    var storedRegistrationCount: Int { registrationTotal.load(ordering: .relaxed) }

    @inlinable
    func hasLiveListener(sender: Sender?) -> Bool {
        state.withLock { state in
            state.registrations.contains { $0.senderKey.hears(sender) && $0.liveReceiver != nil }
        }
    }

    /// The number of registrations held, including any whose receiver, owner or sender has died
    /// but that no connect, disconnect or send has purged yet.
    public var registrationCount: Int {
        state.withLock { $0.registrations.count }
    }

    // MARK: Internals shared by the send paths

    /// The registrations that hear `sender`, in registration order; from the cache when enabled.
    @inlinable
    func registrations(for sender: Sender?) -> [Registration<Payload>] {
        snapshot(for: sender).registrations.filter { $0.senderKey.hears(sender) }
    }

    /// The registrations a send for `sender` walks: all of them, read without a lock, or with
    /// caching those that hear `sender` (the send path filters while it dispatches instead of
    /// building a new array).
    @inlinable
    func snapshot(for sender: Sender?) -> Snapshot<Payload> {
        guard useCaching else { return published.read() }
        return state.withLock { state in
            let cacheKey = CacheKey(sender)
            if let cached = state.cache[cacheKey] { return cached }
            let matching = Snapshot(state.registrations.filter { $0.senderKey.hears(sender) })
            if state.cache.count >= Self.cacheLimit { state.cache.removeAll() }
            state.cache[cacheKey] = matching
            return matching
        }
    }

    /// Removes registrations whose receiver, owner or sender has died.
    @usableFromInline
    func purgeDeadRegistrations() {
        state.withLock { state in
            purgeDead(&state)
            registrationTotal.store(state.registrations.count, ordering: .relaxed)
        }
    }

    private func purgeDead(_ state: inout State) {
        let before = state.registrations.count
        state.registrations.removeAll { $0.liveReceiver == nil }
        if state.registrations.count != before {
            state.cache.removeAll()
            published.publish(Snapshot(state.registrations))
        }
    }
}

/// A registration made by `Signal.connect`, which can undo it.
public struct Connection: Sendable {
    private let undo: @Sendable () -> Bool

    init<Payload>(signal: Signal<Payload>, key: Registration<Payload>.Key, senderKey: SenderKey) {
        let signal = WeakReference(signal)
        undo = { signal.object?.disconnect(key: key, senderKey: senderKey) ?? false }
    }

    /// Disconnects the registration.
    /// - Returns: `true` when it was still connected and is now removed.
    @discardableResult
    public func disconnect() -> Bool { undo() }
}
