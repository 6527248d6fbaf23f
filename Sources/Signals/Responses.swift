/// The receivers a send called, in the order it called them, with their responses.
///
/// The counterpart of the list of `(receiver, response)` pairs Django's `send` returns. A receiver
/// that returns nothing has the response `()`. When every receiver called returns nothing, no
/// storage is allocated: the collection remembers which registrations were called.
public struct Responses<Payload: Sendable>: RandomAccessCollection, Sendable {
    /// A receiver and its response.
    public typealias Element = (receiver: Receiver<Payload>, response: any Sendable)

    @usableFromInline
    enum Storage: Sendable {
        /// Bit `i` of `mask` set: registration `i` of the snapshot (held strongly, returning
        /// nothing) was called.
        case called(Snapshot<Payload>, mask: UInt64, count: Int)
        case list([Element])
    }

    @usableFromInline let storage: Storage

    @inlinable
    init(_ storage: Storage) {
        self.storage = storage
    }

    /// No receiver was called.
    @inlinable
    static var none: Responses { Responses(.list([])) }

    /// The first position.
    public var startIndex: Int { 0 }

    /// The position after the last response.
    public var endIndex: Int {
        switch storage {
        case .called(_, _, let count): count
        case .list(let list): list.count
        }
    }

    /// The receiver and response at `position`.
    public subscript(position: Int) -> Element {
        switch storage {
        case .list(let list):
            return list[position]
        case .called(let snapshot, let mask, _):
            var remaining = mask
            for _ in 0..<position { remaining &= remaining - 1 }
            let index = remaining.trailingZeroBitCount
            // Only strongly held registrations are recorded in the mask.
            return (snapshot.registrations[index].strongReceiver!, ())
        }
    }

    /// The receivers called, in order.
    public var receivers: [Receiver<Payload>] { map(\.receiver) }
}

/// The outcome of each receiver of a robust send: its response, or the error it threw.
public typealias RobustResponses<Payload: Sendable> = [(
    receiver: Receiver<Payload>, result: Result<any Sendable, any Error>
)]
