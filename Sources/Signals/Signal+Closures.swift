extension Signal {
    /// Connects a closure, held strongly until disconnected (a bare closure has nothing that
    /// could be held weakly).
    /// - Parameters:
    ///   - sender: hear only this sender; `nil` hears every sender.
    ///   - dispatchUID: the registration's identity; without one, every call registers anew.
    ///   - name: the receiver's name in log messages; by default where it was connected.
    ///   - body: the receiver.
    /// - Returns: a connection that can disconnect this registration.
    @discardableResult
    public func connect(
        sender: Sender? = nil,
        dispatchUID: String? = nil,
        name: String? = nil,
        fileID: String = #fileID,
        line: Int = #line,
        _ body: @escaping @Sendable (Sender?, Payload) throws -> Void
    ) -> Connection {
        let receiver = Receiver(name ?? dispatchUID ?? "\(fileID):\(line)", body)
        return connect(receiver, sender: sender, weak: false, dispatchUID: dispatchUID)
    }

    /// Connects a closure that returns a response, held strongly until disconnected.
    @discardableResult
    public func connect<Response: Sendable>(
        sender: Sender? = nil,
        dispatchUID: String? = nil,
        name: String? = nil,
        fileID: String = #fileID,
        line: Int = #line,
        _ body: @escaping @Sendable (Sender?, Payload) throws -> Response
    ) -> Connection {
        let receiver = Receiver(name ?? dispatchUID ?? "\(fileID):\(line)", body)
        return connect(receiver, sender: sender, weak: false, dispatchUID: dispatchUID)
    }

    /// Connects an asynchronous closure, held strongly until disconnected. It runs only under
    /// `await send(...)`.
    @discardableResult
    public func connect<Response: Sendable>(
        sender: Sender? = nil,
        dispatchUID: String? = nil,
        name: String? = nil,
        fileID: String = #fileID,
        line: Int = #line,
        _ body: @escaping @Sendable (Sender?, Payload) async throws -> Response
    ) -> Connection {
        let receiver = Receiver(name ?? dispatchUID ?? "\(fileID):\(line)", body)
        return connect(receiver, sender: sender, weak: false, dispatchUID: dispatchUID)
    }

    /// Connects a closure bound to `owner` (the counterpart of a bound method). With `weak: true`
    /// the owner is held weakly and the registration ends when it is deallocated; with `false`
    /// the owner is kept alive until disconnected.
    @discardableResult
    public func connect<Owner: AnyObject & Sendable>(
        owner: Owner,
        sender: Sender? = nil,
        weak: Bool = true,
        dispatchUID: String? = nil,
        name: String? = nil,
        fileID: String = #fileID,
        line: Int = #line,
        _ body: @escaping @Sendable (Owner, Sender?, Payload) throws -> Void
    ) -> Connection {
        let receiver = Receiver(name ?? dispatchUID ?? "\(fileID):\(line)", owner: owner, body)
        return connect(receiver, sender: sender, weak: weak, dispatchUID: dispatchUID)
    }

    /// Connects an asynchronous closure bound to `owner`; see the synchronous variant.
    @discardableResult
    public func connect<Owner: AnyObject & Sendable, Response: Sendable>(
        owner: Owner,
        sender: Sender? = nil,
        weak: Bool = true,
        dispatchUID: String? = nil,
        name: String? = nil,
        fileID: String = #fileID,
        line: Int = #line,
        _ body: @escaping @Sendable (Owner, Sender?, Payload) async throws -> Response
    ) -> Connection {
        let receiver = Receiver(name ?? dispatchUID ?? "\(fileID):\(line)", owner: owner, body)
        return connect(receiver, sender: sender, weak: weak, dispatchUID: dispatchUID)
    }
}
