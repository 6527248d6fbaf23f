import AuditStore
import AuthSignalCore
import Logging
import NIOCore
public import Signals

/// One client connection: frames requests on `\n`, checks access, runs requests concurrently and
/// writes their answers strictly in request order.
///
/// Every request gets a slot in an ordered queue; only the oldest slot writes to the socket, the
/// others keep their output until it is their turn (a request streaming records waits meanwhile).
/// At most `MaxInFlight` slots exist: beyond that, and while the socket does not drain, the
/// handler leaves further lines in its buffer and stops reading, so a client that never reads its
/// answers costs a bounded amount of memory. A line longer than `MaxFrameBytes` is answered `too_large` and ends the connection.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Asks a connection to finish what it has read and close (shutdown).
    struct Drain {}

    private struct Slot {
        let id: UInt64
        var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
        var final: ByteBuffer?
        var task: Task<Void, Never>?
        /// Starts a read request once every earlier request is answered.
        var start: (() -> Task<Void, Never>)?
        var context: RequestContext
    }

    private let processor: RequestProcessor
    private let peer: PeerIdentity
    private let connectionID: UInt64
    private let logger: Logger
    private var buffer: ByteBuffer
    private var slots = CircularBuffer<Slot>()
    private var nextSlot: UInt64 = 0
    private var heldRead = false
    private var closing = false
    /// After `too_large`: input is read and thrown away until the client closes (a lingering
    /// close), so that the kernel does not reset the connection before the client reads the error.
    private var discarding = false
    private var lingerOnClose = false
    private var inputClosed = false
    private var flushScheduled = false
    /// Whether complete lines wait in `buffer` for the in-flight limit or the socket.
    private var backlogged = false
    /// Whether ``takeBufferedRequests()`` is running (it is not re-entered).
    private var taking = false
    /// Whether the connection is being closed (once its last answers are written).
    private var closeStarted = false
    private var writabilityWaiters: [EventLoopPromise<Void>] = []
    private var context: ChannelHandlerContext?

    init(processor: RequestProcessor, peer: PeerIdentity, connectionID: UInt64, logger: Logger) {
        self.processor = processor
        self.peer = peer
        self.connectionID = connectionID
        self.logger = logger
        buffer = ByteBuffer()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        buffer = context.channel.allocator.buffer(capacity: 4096)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !discarding else { return }
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        takeBufferedRequests()
    }

    /// Whether one more request may be taken: fewer than `MaxInFlight` requests are being
    /// processed or waiting to be written, and the socket drains. Every request counts, an error
    /// answer as much as an event, so a client that never reads its answers holds at most
    /// `MaxInFlight` of them, however many lines one read delivered.
    private func mayTakeRequest(limit: Int) -> Bool {
        guard let context, !closing else { return false }
        return slots.count < limit && context.channel.isWritable
    }

    /// `MaxInFlight` now (read once per batch of lines: the runtime is behind a lock).
    private var maxInFlight: Int { processor.runtime.config.maxInFlight }

    /// Turns buffered lines into requests while ``mayTakeRequest(limit:)``; the rest waits in the buffer,
    /// with reads held, until answers drain. Re-entrant calls (an answer completing while a line
    /// is taken) return at once: the outer call goes on.
    private func takeBufferedRequests() {
        guard !taking else { return }
        taking = true
        defer {
            taking = false
            closeIfDone()
        }
        let config = processor.runtime.config
        let limit = config.maxFrameBytes
        let inFlight = config.maxInFlight
        backlogged = false
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            guard mayTakeRequest(limit: inFlight) else {
                backlogged = !closing
                break
            }
            let length = newline - buffer.readerIndex
            guard length <= limit else {
                tooLarge(limit)
                return
            }
            let frame = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            handleFrame(frame)
        }
        if !backlogged, !closing {
            if buffer.readableBytes > limit {
                tooLarge(limit)
                return
            }
            if inputClosed, buffer.readableBytes > 0, mayTakeRequest(limit: inFlight) {
                buffer.clear()
                reject(
                    ProtocolError(.invalidRequest, "the connection ended in the middle of a line (no newline)"),
                    op: nil)
            }
        }
        if buffer.readerIndex > 65536 || (buffer.readableBytes == 0 && buffer.readerIndex > 0) {
            buffer.discardReadBytes()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            if discarding {
                context.close(promise: nil)
                return
            }
            takeBufferedRequests()
            closeIfDone()
        } else if event is IdleStateHandler.IdleStateEvent {
            if slots.isEmpty { context.close(promise: nil) }
        } else if event is Drain {
            closing = true
            closeIfDone()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for slot in slots { slot.task?.cancel() }
        for slot in slots {
            for (_, promise) in slot.pending { promise?.fail(ConnectionGone()) }
        }
        slots.removeAll()
        for waiter in writabilityWaiters { waiter.fail(ConnectionGone()) }
        writabilityWaiters.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["connection": "\(connectionID)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// Holds reads back while too many requests are in flight or the socket does not drain.
    func read(context: ChannelHandlerContext) {
        if discarding {
            context.read()
            return
        }
        if closing { return }
        if backlogged || !mayTakeRequest(limit: maxInFlight) {
            heldRead = true
            return
        }
        context.read()
    }

    /// Takes the buffered lines that now fit, then reads again if all of them did.
    private func resumeReadingIfPossible() {
        if backlogged { takeBufferedRequests() }
        guard heldRead, let context, !backlogged, mayTakeRequest(limit: maxInFlight) else { return }
        heldRead = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            let waiters = writabilityWaiters
            writabilityWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
            resumeReadingIfPossible()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Requests

    private func handleFrame(_ frame: ByteBuffer) {
        let request: ProtocolRequest
        do {
            request = try ProtocolRequest.decode(frame.readableBytesView)
        } catch {
            reject(error, op: nil)
            return
        }
        let runtime = processor.runtime
        guard runtime.access.permits(request, peer: peer) else {
            let what = request.isRead ? "read the audit log" : "emit events"
            reject(
                ProtocolError(
                    .forbidden, "uid \(peer.credentials.uid) may not \(what) (see [Access] in authsignald.conf)"),
                op: request.op)
            return
        }
        let id = openSlot(op: request.op)
        let output = Output(handler: NIOLoopBound(self, eventLoop: context!.eventLoop), slot: id)
        if case .emit(let event) = request {
            switch processor.emit(event, peer: peer) {
            case .success(let ticket):
                ticket.whenComplete { result in
                    output.finish(
                        result.map(RequestProcessor.acknowledgement).mapError(\.protocolError))
                }
            case .failure(let error):
                finish(slot: id, result: .failure(error))
            }
            return
        }
        let processor = self.processor
        let peer = self.peer
        let start = {
            Task {
                let result = await processor.handle(request, peer: peer, output: output)
                output.finish(result)
            }
        }
        // Reads see every earlier request of the connection: they start once those are answered.
        if slots.count == 1 {
            slots[slots.startIndex].task = start()
        } else {
            slots[slots.index(before: slots.endIndex)].start = start
        }
    }

    private func openSlot(op: String?) -> UInt64 {
        let id = nextSlot
        nextSlot += 1
        let requestContext = RequestContext(connection: connectionID, op: op, peer: peer.credentials)
        slots.append(Slot(id: id, context: requestContext))
        if requestStarted.hasListeners() {
            requestStarted.sendRobust(sender: RequestProcessor.sender, RequestStarted(request: requestContext))
        }
        return id
    }

    private func reject(_ error: ProtocolError, op: String?) {
        let id = openSlot(op: op)
        finish(slot: id, result: .failure(error))
    }

    private func tooLarge(_ limit: Int) {
        buffer.clear()
        reject(ProtocolError(.tooLarge, "request line longer than \(limit) bytes; closing the connection"), op: nil)
        closing = true
        lingerOnClose = true
        closeIfDone()
    }

    /// Ends output after the last answer is written and drains input for at most
    /// ``closeGrace``.
    private func lingeringClose(_ context: ChannelHandlerContext) {
        guard !discarding else { return }
        discarding = true
        buffer = context.channel.allocator.buffer(capacity: 0)
        whenWritten(context) { $0.close(mode: .output, promise: nil) }
        context.read()
    }

    // MARK: Writing, in order

    /// Queues record lines of `slot`; the promise completes when they are written and the socket
    /// can take more.
    fileprivate func write(_ bytes: [UInt8], slot id: UInt64, promise: EventLoopPromise<Void>) {
        guard let context, let index = slots.firstIndex(where: { $0.id == id }) else {
            promise.fail(ConnectionGone())
            return
        }
        let data = context.channel.allocator.buffer(bytes: bytes)
        if index == slots.startIndex {
            emit(data, promise: promise)
        } else {
            slots[index].pending.append((data, promise))
        }
    }

    /// Completes `slot` with its final line.
    fileprivate func finish(slot id: UInt64, result: Result<JSONObject, ProtocolError>) {
        guard let context, let index = slots.firstIndex(where: { $0.id == id }) else { return }
        let line: [UInt8]
        switch result {
        case .success(let fields): line = ProtocolResponse.ok(fields)
        case .failure(let error):
            line = ProtocolResponse.error(error)
            processor.countRefusal(error.code)
            if gotRequestException.hasListeners() {
                gotRequestException.sendRobust(
                    sender: RequestProcessor.sender, GotRequestException(request: slots[index].context, error: error))
            }
        }
        if requestFinished.hasListeners() {
            let ok = if case .success = result { true } else { false }
            requestFinished.sendRobust(
                sender: RequestProcessor.sender, RequestFinished(request: slots[index].context, ok: ok))
        }
        slots[index].final = context.channel.allocator.buffer(bytes: line)
        advance()
    }

    /// Writes what the oldest slots have, retiring each that is complete.
    private func advance() {
        while let head = slots.first {
            if let start = head.start {
                slots[slots.startIndex].start = nil
                slots[slots.startIndex].task = start()
            }
            for (data, promise) in head.pending { emit(data, promise: promise) }
            slots[slots.startIndex].pending.removeAll()
            guard let final = head.final else { break }
            emit(final, promise: nil)
            slots.removeFirst()
        }
        resumeReadingIfPossible()
        closeIfDone()
    }

    private func emit(_ data: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ConnectionGone())
            return
        }
        context.write(wrapOutboundOut(data), promise: nil)
        scheduleFlush()
        if let promise {
            if context.channel.isWritable { promise.succeed() } else { writabilityWaiters.append(promise) }
        }
    }

    /// Flushes once per event-loop tick, so that acknowledgements completing together (one group
    /// commit) leave in one write.
    private func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            self.context?.flush()
        }
    }

    private func closeIfDone() {
        guard !closeStarted, closing || (inputClosed && !backlogged), slots.isEmpty, !taking, let context else {
            return
        }
        closeStarted = true
        // Unread input at close makes the kernel reset the connection, and the client would see
        // an error instead of the end of its answers: after too_large, and when a shutdown finds
        // lines not yet taken, input is drained for a while instead.
        if (lingerOnClose || heldRead || buffer.readableBytes > 0) && !inputClosed {
            lingeringClose(context)
        } else {
            whenWritten(context) { $0.close(promise: nil) }
        }
    }

    /// Runs `action` once every answer queued so far is in the kernel's socket buffer (NIO drops
    /// writes still queued when a channel closes: a client reading slowly would lose answers), or
    /// after ``closeGrace`` for a client that reads nothing.
    private func whenWritten(_ context: ChannelHandlerContext, _ action: @escaping @Sendable (any Channel) -> Void) {
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.whenComplete { _ in action(channel) }
        context.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
    }

    /// How long a closing connection may take to have its last answers read.
    static let closeGrace = TimeAmount.seconds(5)

    /// A request's output channel back to this handler, usable from any thread.
    struct Output: RecordOutput {
        let handler: NIOLoopBound<ConnectionHandler>
        let slot: UInt64

        func write(_ bytes: [UInt8]) async throws {
            let eventLoop = handler.eventLoop
            let promise = eventLoop.makePromise(of: Void.self)
            eventLoop.execute { [handler, slot] in handler.value.write(bytes, slot: slot, promise: promise) }
            try await promise.futureResult.get()
        }

        func finish(_ result: Result<JSONObject, ProtocolError>) {
            handler.eventLoop.execute { [handler, slot] in handler.value.finish(slot: slot, result: result) }
        }
    }
}

extension RequestProcessor {
    /// The sender of the request signals.
    public static let sender = Sender.type(RequestProcessor.self)
}
