import AuthSignalProtocol
import NIOCore

/// The rules of one client connection, apart from NIO and from what requests do: which line is
/// taken as a request and when, in what order answers leave, when reading pauses and resumes,
/// and how the connection ends. ``ConnectionHandler`` feeds it what happens and carries out the
/// actions it returns; tests drive it alone.
///
/// - Every request line gets a *slot* in an ordered queue, in the order the lines arrived. Only
///   the oldest slot's output is written; later slots keep theirs (``Output``) until they are
///   the oldest. A slot ends with its final answer.
/// - A line is taken only while fewer than `MaxInFlight` slots are open and the socket drains;
///   otherwise the rest waits in the ``LineFramer`` as bytes, and reads are held, so that a client
///   that never reads its answers costs a bounded amount of memory.
/// - A read request starts only once every earlier request of the connection is answered (it sees
///   their records): ``start(_:)`` says whether it may start now, or ``Action/start(_:)`` later.
/// - A line longer than `MaxFrameBytes` is answered `too_large`, and the connection closes with a
///   lingering close: output ends once the answers are written, and input is read and discarded
///   until the client closes, so that the kernel does not reset the connection before the client
///   reads the error. Shutting down (``drain()``) finishes the requests taken and closes likewise
///   when unread input remains.
struct ConnectionStateMachine<Output> {
    /// A slot's number, unique within the connection.
    typealias SlotID = UInt64

    /// The limits of `[Socket]`, read anew for every batch of lines (they change on reload).
    struct Limits: Equatable {
        /// `MaxFrameBytes`: the longest request line.
        var maxFrameBytes: Int
        /// `MaxInFlight`: the most requests being served or waiting to be written.
        var maxInFlight: Int
    }

    /// What ``nextRequest(_:isWritable:)`` took.
    enum Taken {
        /// A request line to decode and serve in `slot`.
        case line(ByteBuffer, slot: SlotID)
        /// Not a request: `slot` is to be answered with `error` at once.
        case refused(ProtocolError, slot: SlotID)
    }

    /// What the handler does, in order.
    enum Action {
        /// Write this output to the socket.
        case write(Output)
        /// Start the read request of this slot: every earlier one is answered.
        case start(SlotID)
    }

    /// Where a slot's output goes (see ``write(_:slot:)``).
    enum WriteDecision: Equatable {
        /// The slot is the oldest: write it now.
        case now
        /// Kept until the slot is the oldest.
        case queued
        /// The slot is not open (the connection ended): the output is dropped.
        case gone
    }

    /// How the connection ends (see ``closeIfDone()``).
    enum Close: Equatable {
        /// Close once every answer is written.
        case afterWrites
        /// End output once every answer is written, and read and discard input until the client
        /// closes (or a grace time passes).
        case lingering
    }

    private struct Slot {
        let id: SlotID
        var pending: [Output] = []
        var final: Output?
        var waitingToStart = false
    }

    private var framer = LineFramer()
    private var slots = CircularBuffer<Slot>()
    private var nextSlot: SlotID = 0
    /// The pipeline asked to read and was told to wait.
    private var readHeld = false
    /// Taking stopped at a limit with input buffered.
    private var backlogged = false
    /// No more lines are taken: shutting down, or after `too_large`.
    private var draining = false
    private var lingerOnClose = false
    private var inputClosed = false
    /// A lingering close is under way: input is thrown away.
    private(set) var discarding = false
    private var closeStarted = false

    /// Open slots: requests taken and not yet fully answered.
    var openSlots: Int { slots.count }

    // MARK: Input

    /// Bytes read from the connection.
    mutating func received(_ bytes: inout ByteBuffer) {
        guard !draining, !discarding else { return }
        framer.append(&bytes)
    }

    /// The client closed its side: the remaining lines are still served.
    /// - Returns: whether to close at once (a lingering close was waiting for exactly this).
    mutating func inputEnded() -> Bool {
        inputClosed = true
        return discarding
    }

    /// Shutdown: finish the requests taken, take no more, then close.
    mutating func drain() {
        draining = true
    }

    /// Whether an idle connection may be closed now: it has nothing in flight.
    var isIdle: Bool { slots.isEmpty }

    /// The next request line when one more may be taken, with a new slot for it; `nil` when none
    /// is complete, or taking one would exceed `limits`, or the socket does not drain.
    mutating func nextRequest(_ limits: Limits, isWritable: Bool) -> Taken? {
        guard !draining, !discarding else { return nil }
        guard slots.count < limits.maxInFlight, isWritable else {
            backlogged = framer.bufferedBytes > 0
            return nil
        }
        backlogged = false
        switch framer.next(maximumLength: limits.maxFrameBytes) {
        case .line(let line):
            return .line(line, slot: openSlot())
        case .tooLong:
            framer.discardAll()
            draining = true
            lingerOnClose = true
            let error = ProtocolError(
                .tooLarge, "request line longer than \(limits.maxFrameBytes) bytes; closing the connection")
            return .refused(error, slot: openSlot())
        case nil:
            guard inputClosed, framer.bufferedBytes > 0 else { return nil }
            framer.discardAll()
            let error = ProtocolError(.invalidRequest, "the connection ended in the middle of a line (no newline)")
            return .refused(error, slot: openSlot())
        }
    }

    private mutating func openSlot() -> SlotID {
        let id = nextSlot
        nextSlot += 1
        slots.append(Slot(id: id))
        return id
    }

    /// Whether ``nextRequest(_:isWritable:)`` or ``resumeReading(_:isWritable:)`` could do
    /// anything now: bytes wait to be taken, or a read is held. When not, the handler need not
    /// read the limits (they are behind the runtime's lock) after every answer.
    var mayTakeOrResume: Bool {
        readHeld || (framer.bufferedBytes > 0 && !draining && !discarding)
    }

    // MARK: Reading

    /// The pipeline asks to read: whether to read now. A read held here is resumed by
    /// ``resumeReading(_:isWritable:)``.
    mutating func readRequested(_ limits: Limits, isWritable: Bool) -> Bool {
        if discarding { return true }
        if draining { return false }
        if backlogged || !mayTake(limits, isWritable: isWritable) {
            readHeld = true
            return false
        }
        return true
    }

    /// After answers were written or the socket drained (and the buffered lines that now fit were
    /// taken): whether to resume a held read.
    mutating func resumeReading(_ limits: Limits, isWritable: Bool) -> Bool {
        guard readHeld, !backlogged, !draining, !discarding, mayTake(limits, isWritable: isWritable) else {
            return false
        }
        readHeld = false
        return true
    }

    private func mayTake(_ limits: Limits, isWritable: Bool) -> Bool {
        slots.count < limits.maxInFlight && isWritable
    }

    // MARK: Answers, in order

    /// A read request in `slot` asks to start: `true` when every earlier request is answered;
    /// otherwise ``Action/start(_:)`` comes once they are.
    mutating func start(_ slot: SlotID) -> Bool {
        guard let index = slots.firstIndex(where: { $0.id == slot }) else { return false }
        if index == slots.startIndex { return true }
        slots[index].waitingToStart = true
        return false
    }

    /// Record output of `slot`: written now when the slot is the oldest, kept otherwise.
    mutating func write(_ output: Output, slot: SlotID) -> WriteDecision {
        guard let index = slots.firstIndex(where: { $0.id == slot }) else { return .gone }
        if index == slots.startIndex { return .now }
        slots[index].pending.append(output)
        return .queued
    }

    /// Ends `slot` with its final answer. Returns what becomes writable or startable, in order
    /// (`nil` when the slot is not open).
    mutating func finish(_ slot: SlotID, final: Output) -> [Action]? {
        guard let index = slots.firstIndex(where: { $0.id == slot }) else { return nil }
        slots[index].final = final
        var actions: [Action] = []
        while let head = slots.first {
            if head.waitingToStart {
                slots[slots.startIndex].waitingToStart = false
                actions.append(.start(head.id))
            }
            actions.append(contentsOf: head.pending.map(Action.write))
            slots[slots.startIndex].pending.removeAll()
            guard let final = head.final else { break }
            actions.append(.write(final))
            slots.removeFirst()
        }
        return actions
    }

    // MARK: Ending

    /// Whether the connection should close now, and how: once draining or the client has closed
    /// with nothing left to take, and every slot is answered. Says so once.
    mutating func closeIfDone() -> Close? {
        guard !closeStarted, draining || (inputClosed && !backlogged), slots.isEmpty else { return nil }
        closeStarted = true
        // Unread input at close makes the kernel reset the connection, and the client would see
        // an error instead of the end of its answers.
        if (lingerOnClose || readHeld || framer.bufferedBytes > 0) && !inputClosed {
            discarding = true
            framer.discardAll()
            return .lingering
        }
        return .afterWrites
    }

    /// The connection is gone: every output still kept, to be failed, and no slot remains.
    mutating func connectionEnded() -> [Output] {
        let kept = slots.flatMap { $0.pending + ($0.final.map { [$0] } ?? []) }
        slots.removeAll()
        return kept
    }
}
