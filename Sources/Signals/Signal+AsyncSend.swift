extension Signal {
    /// Sends the signal to every live receiver that hears `sender`, synchronous and asynchronous
    /// (Django's `asend`).
    ///
    /// Synchronous receivers run first, one after another in registration order; then the
    /// asynchronous receivers run concurrently. The first error propagates: no further
    /// synchronous receiver runs, and the remaining asynchronous ones are cancelled.
    /// - Returns: each receiver and its response: synchronous receivers first, then asynchronous
    ///   ones, each group in registration order.
    @discardableResult
    public func send(sender: Sender? = nil, _ payload: Payload) async throws -> Responses<Payload> {
        if isEmpty { return .none }
        let (syncReceivers, asyncReceivers) = liveReceivers(for: sender)
        var list: [Responses<Payload>.Element] = []
        list.reserveCapacity(syncReceivers.count + asyncReceivers.count)
        for receiver in syncReceivers {
            list.append((receiver, try Self.callSync(receiver, sender, payload)))
        }
        guard !asyncReceivers.isEmpty else { return Responses(.list(list)) }
        let asyncResponses = try await withThrowingTaskGroup(
            of: (Int, any Sendable).self
        ) { group in
            for (index, receiver) in asyncReceivers.enumerated() {
                group.addTask { (index, try await Self.callAsync(receiver, sender, payload)) }
            }
            var responses = [(any Sendable)?](repeating: nil, count: asyncReceivers.count)
            for try await (index, response) in group { responses[index] = response }
            return responses
        }
        for (receiver, response) in zip(asyncReceivers, asyncResponses) {
            list.append((receiver, response!))
        }
        return Responses(.list(list))
    }

    /// Sends the signal to every live receiver that hears `sender`, synchronous and asynchronous,
    /// catching errors (Django's `asend_robust`).
    ///
    /// Ordering is as for `await send(...)`; every receiver runs, an error becomes that
    /// receiver's result and is logged at error level with the receiver's name.
    @discardableResult
    public func sendRobust(sender: Sender? = nil, _ payload: Payload) async -> RobustResponses<Payload> {
        if isEmpty { return [] }
        let (syncReceivers, asyncReceivers) = liveReceivers(for: sender)
        var results: RobustResponses<Payload> = []
        results.reserveCapacity(syncReceivers.count + asyncReceivers.count)
        for receiver in syncReceivers {
            let result = Result { try Self.callSync(receiver, sender, payload) }
            if case .failure(let error) = result { logFailure(of: receiver, error) }
            results.append((receiver, result))
        }
        let asyncResults = await withTaskGroup(
            of: (Int, Result<any Sendable, any Error>).self
        ) { group in
            for (index, receiver) in asyncReceivers.enumerated() {
                group.addTask {
                    do {
                        return (index, .success(try await Self.callAsync(receiver, sender, payload)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var ordered = [Result<any Sendable, any Error>?](repeating: nil, count: asyncReceivers.count)
            for await (index, result) in group { ordered[index] = result }
            return ordered
        }
        for (receiver, result) in zip(asyncReceivers, asyncResults) {
            if case .failure(let error) = result! { logFailure(of: receiver, error) }
            results.append((receiver, result!))
        }
        return results
    }

    private static func callSync(
        _ receiver: Receiver<Payload>, _ sender: Sender?, _ payload: Payload
    ) throws -> any Sendable {
        switch receiver.body {
        case .sync(let body): try body(sender, payload)
        case .syncReturning(let body): return try body(sender, payload)
        case .async: preconditionFailure("an asynchronous receiver in the synchronous group")
        }
        return ()
    }

    private static func callAsync(
        _ receiver: Receiver<Payload>, _ sender: Sender?, _ payload: Payload
    ) async throws -> any Sendable {
        guard case .async(let body) = receiver.body else {
            preconditionFailure("a synchronous receiver in the asynchronous group")
        }
        return try await body(sender, payload)
    }
}
