import Logging

extension Signal {
    /// Sends the signal to every live synchronous receiver that hears `sender`, in registration
    /// order (Django's `send`).
    ///
    /// The first error a receiver throws propagates, and later receivers are not called.
    /// Asynchronous receivers are not called here: only `await send(...)` can run them.
    /// - Parameters:
    ///   - sender: who sends; `nil` reaches only receivers connected for every sender.
    ///   - payload: the signal's arguments.
    /// - Returns: each receiver called and its response.
    @inlinable
    @discardableResult
    public func send(sender: Sender? = nil, _ payload: Payload) throws -> Responses<Payload> {
        if isEmpty { return .none }
        let snapshot = snapshot(for: sender)
        var mask: UInt64 = 0
        var called = 0
        var list: [Responses<Payload>.Element]?
        var sawDead = false
        defer { if sawDead { purgeDeadRegistrations() } }
        try snapshot.entries.withUnsafeBufferPointer { entries in
            // Entries are read in place (no copy, so no reference counting) while the snapshot
            // keeps them alive.
            for index in entries.indices where snapshot.hears(at: index, of: entries, sender, sawDead: &sawDead) {
                if list == nil, index < UInt64.bitWidth, entries[index].isImmortalPlainSync {
                    try entries[index].immortalBody(sender, payload)
                    mask |= 1 << UInt64(index)
                    called += 1
                    continue
                }
                let registration = snapshot.registrations[index]
                guard let receiver = registration.liveReceiver else {
                    sawDead = true
                    continue
                }
                switch receiver.body {
                case .sync(let body):
                    try body(sender, payload)
                    if list == nil && registration.isPlainSync && index < UInt64.bitWidth {
                        mask |= 1 << UInt64(index)
                        called += 1
                    } else {
                        Self.append((receiver, ()), to: &list, snapshot, mask, called)
                    }
                case .syncReturning(let body):
                    let response = try body(sender, payload)
                    Self.append((receiver, response), to: &list, snapshot, mask, called)
                case .async:
                    continue
                }
            }
        }
        if let list { return Responses(.list(list)) }
        return Responses(.called(snapshot, mask: mask, count: called))
    }

    /// Sends like ``send(sender:_:)`` and returns nothing: the cheapest send, for callers that
    /// do not look at the responses.
    ///
    /// The receivers, their order and the error handling are `send`'s: the first error a receiver
    /// throws propagates, and later receivers are not called. Returning no ``Responses`` spares
    /// the send a reference to the registrations it walked (two atomic operations of the four a
    /// `send` costs beside the calls).
    @inlinable
    public func dispatch(sender: Sender? = nil, _ payload: Payload) throws {
        if isEmpty { return }
        var sawDead = false
        defer { if sawDead { purgeDeadRegistrations() } }
        try published.withCurrent { snapshot in
            try snapshot.entries.withUnsafeBufferPointer { entries in
                for index in entries.indices where snapshot.hears(at: index, of: entries, sender, sawDead: &sawDead) {
                    if entries[index].isImmortalPlainSync {
                        try entries[index].immortalBody(sender, payload)
                        continue
                    }
                    guard let receiver = snapshot.registrations[index].liveReceiver else {
                        sawDead = true
                        continue
                    }
                    switch receiver.body {
                    case .sync(let body): try body(sender, payload)
                    case .syncReturning(let body): _ = try body(sender, payload)
                    case .async: continue
                    }
                }
            }
        }
    }

    /// Appends to the response list, first turning the called-mask into list entries.
    @usableFromInline
    static func append(
        _ element: Responses<Payload>.Element,
        to list: inout [Responses<Payload>.Element]?,
        _ snapshot: Snapshot<Payload>,
        _ mask: UInt64,
        _ called: Int
    ) {
        if list == nil {
            list = Array(Responses(.called(snapshot, mask: mask, count: called)))
        }
        list!.append(element)
    }

    /// Sends the signal to every live synchronous receiver that hears `sender`, catching errors
    /// (Django's `send_robust`).
    ///
    /// Every receiver is called. An error becomes that receiver's result and is logged at error
    /// level with the receiver's name. Asynchronous receivers are not called here.
    /// - Returns: each receiver called and its response or error.
    @discardableResult
    public func sendRobust(sender: Sender? = nil, _ payload: Payload) -> RobustResponses<Payload> {
        if isEmpty { return [] }
        var results: RobustResponses<Payload> = []
        forEachLiveReceiver(hearing: sender) { receiver in
            if let result = callRobustly(receiver, sender: sender, payload) { results.append((receiver, result)) }
        }
        return results
    }

    /// Sends like ``sendRobust(sender:_:)`` and returns nothing, building no list of results: for
    /// callers that do not look at them. Every receiver is called and each error is logged.
    @inlinable
    public func dispatchRobust(sender: Sender? = nil, _ payload: Payload) {
        if isEmpty { return }
        forEachLiveReceiver(hearing: sender) { _ = callRobustly($0, sender: sender, payload) }
    }

    /// Calls `visit` with each live receiver that hears `sender`, in registration order, walking
    /// the registrations in place (no list is built, no reference to them taken), then purges the
    /// dead registrations it met.
    @inlinable
    func forEachLiveReceiver(hearing sender: Sender?, _ visit: (Receiver<Payload>) -> Void) {
        var sawDead = false
        published.withCurrent { snapshot in
            snapshot.registrations.withUnsafeBufferPointer { registrations in
                for index in registrations.indices where registrations[index].senderKey.hears(sender) {
                    guard let receiver = registrations[index].liveReceiver else {
                        sawDead = true
                        continue
                    }
                    visit(receiver)
                }
            }
        }
        if sawDead { purgeDeadRegistrations() }
    }

    /// Calls a synchronous receiver, catching (and logging) what it throws; `nil` for an
    /// asynchronous receiver, which only an `await`ed send runs.
    @usableFromInline
    func callRobustly(_ receiver: Receiver<Payload>, sender: Sender?, _ payload: Payload) -> Result<
        any Sendable, any Error
    >? {
        let result: Result<any Sendable, any Error>
        switch receiver.body {
        case .sync(let body): result = Result { () throws -> any Sendable in try body(sender, payload) }
        case .syncReturning(let body): result = Result { try body(sender, payload) }
        case .async: return nil
        }
        if case .failure(let error) = result { logFailure(of: receiver, error) }
        return result
    }

    /// The live receivers that hear `sender`, split into synchronous and asynchronous ones, each
    /// in registration order. Dead registrations found on the way are purged.
    func liveReceivers(for sender: Sender?) -> (sync: [Receiver<Payload>], async: [Receiver<Payload>]) {
        var sync: [Receiver<Payload>] = []
        var async: [Receiver<Payload>] = []
        var sawDead = false
        for registration in registrations(for: sender) {
            guard let receiver = registration.liveReceiver else {
                sawDead = true
                continue
            }
            if receiver.isAsync { async.append(receiver) } else { sync.append(receiver) }
        }
        if sawDead { purgeDeadRegistrations() }
        return (sync, async)
    }

    @usableFromInline
    func logFailure(of receiver: Receiver<Payload>, _ error: any Error) {
        logger.error(
            "Error calling \(receiver.name) in Signal.sendRobust() (\(error))",
            error: error,
            metadata: ["signal": "\(name)", "receiver": "\(receiver.name)"]
        )
    }
}
