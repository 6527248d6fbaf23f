import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Logging
import NIOCore
import NIOPosix
package import Signals

/// One client connection in the pipeline: carries out what its ``ConnectionStateMachine``
/// decides (which lines become requests, the order of answers, when to read and how to close),
/// hands each request line to the ``RequestProcessor`` (which decodes it, checks access and
/// starts its work), writes the answers, counts refusals and sends the request signals.
///
/// Every state change enters through an NIO event or an answer coming back, and ends in
/// ``serve()``, which takes the lines that now fit, resumes a held read and closes when done.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Asks a connection to finish what it has read and close (shutdown).
    struct Drain {}

    /// Bytes for the socket, and the promise of a request waiting for room to write more.
    struct Outgoing {
        let bytes: ByteBuffer
        let promise: EventLoopPromise<Void>?
    }

    typealias StateMachine = ConnectionStateMachine<Outgoing>

    /// What the handler keeps about a request the state machine has a slot for.
    private struct Request {
        var context: RequestContext
        var task: Task<Void, Never>?
        /// A read waiting for its turn (``StateMachine/Action/start(_:)``).
        var start: (@Sendable (any RecordOutput) async -> Result<any ProtocolAnswer, ProtocolError>)?
    }

    private let processor: RequestProcessor
    private let peer: PeerIdentity
    private let connectionID: UInt64
    private let logger: Logger
    private var machine = StateMachine()
    private var requests: [StateMachine.SlotID: Request] = [:]
    private var flushScheduled = false
    /// Emits waiting for (or in) a dispatch off the event loop, and the last of them: a later
    /// emit goes behind it, so the connection's events are stored in the order it sent them.
    private var blockingEmits = 0
    private var lastBlockingEmit: EventLoopFuture<Void>?
    private var writabilityWaiters: [EventLoopPromise<Void>] = []
    private var context: ChannelHandlerContext?

    init(processor: RequestProcessor, peer: PeerIdentity, connectionID: UInt64, logger: Logger) {
        self.processor = processor
        self.peer = peer
        self.connectionID = connectionID
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// `MaxFrameBytes` and `MaxInFlight` now (the runtime changes on reload).
    private var limits: StateMachine.Limits {
        let config = processor.runtime.config
        return StateMachine.Limits(maxFrameBytes: config.maxFrameBytes, maxInFlight: config.maxInFlight)
    }

    // MARK: Events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        machine.received(&incoming)
        serve()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if machine.inputEnded() {
                context.close(promise: nil)
                return
            }
            serve()
        } else if event is IdleStateHandler.IdleStateEvent {
            if machine.isIdle { context.close(promise: nil) }
        } else if event is Drain {
            machine.drain()
            serve()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for request in requests.values { request.task?.cancel() }
        requests.removeAll()
        for kept in machine.connectionEnded() { kept.promise?.fail(ConnectionGone()) }
        for waiter in writabilityWaiters { waiter.fail(ConnectionGone()) }
        writabilityWaiters.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["connection": "\(connectionID)", "error": "\(error)"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if machine.readRequested(limits, isWritable: context.channel.isWritable) { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            let waiters = writabilityWaiters
            writabilityWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
            serve()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Takes the request lines that now fit, resumes a held read, and closes when done.
    private func serve() {
        guard let context else { return }
        if machine.mayTakeOrResume {
            let limits = self.limits
            while let taken = machine.nextRequest(limits, isWritable: context.channel.isWritable) {
                switch taken {
                case .line(let line, let slot): accept(line, slot: slot)
                case .refused(let error, let slot): answer(slot, with: error)
                }
            }
            if machine.resumeReading(limits, isWritable: context.channel.isWritable) { context.read() }
        }
        switch machine.closeIfDone() {
        case .afterWrites?:
            whenWritten(context) { $0.close(promise: nil) }
        case .lingering?:
            whenWritten(context) { $0.close(mode: .output, promise: nil) }
            context.read()
        case nil:
            break
        }
    }

    // MARK: Requests

    /// Has the processor take up the line of `slot` and carries out the work it started.
    private func accept(_ line: ByteBuffer, slot: StateMachine.SlotID) {
        let served = processor.serve(line.readableBytesView, peer: peer, from: .connection)
        opened(slot, op: served.op)
        switch served.work {
        case .emit(let emit):
            dispatch(emit, output: output(for: slot))
        case .read(let work):
            if machine.start(slot) {
                requests[slot]?.task = Self.run(work, output(for: slot))
            } else {
                requests[slot]?.start = work
            }
        case .refused(let error):
            finish(slot, with: .failure(error))
        }
    }

    /// Dispatches `emit` after every earlier emit of this connection: on the event loop when it
    /// cannot block and none is waiting, otherwise on the account look-up pool behind the earlier ones
    /// (an account look-up there waits for NSS without stalling the loop's other connections).
    private func dispatch(_ emit: RequestProcessor.Emit, output: Output) {
        guard emit.mayBlock || blockingEmits > 0, let eventLoop = context?.eventLoop else {
            Self.acknowledge(emit.dispatch(), output)
            return
        }
        blockingEmits += 1
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let previous = lastBlockingEmit ?? eventLoop.makeSucceededVoidFuture()
        let dispatched = previous.flatMap {
            AccountLookUps.pool.runIfActive(eventLoop: eventLoop) { emit.dispatch() }
        }
        lastBlockingEmit = dispatched.map { _ in }.recover { _ in }
        dispatched.whenComplete { result in
            handler.value.blockingEmits -= 1
            if handler.value.blockingEmits == 0 { handler.value.lastBlockingEmit = nil }
            switch result {
            case .success(let ticket): Self.acknowledge(ticket, output)
            case .failure: output.finish(.failure(ProtocolError(.unavailable, "the daemon is stopping")))
            }
        }
    }

    /// Answers an emit once its record is durable (or failed).
    private static func acknowledge(_ ticket: AppendTicket, _ output: Output) {
        ticket.whenComplete { result in
            output.finish(result.map(RequestProcessor.acknowledgement).mapError(\.protocolError))
        }
    }

    /// The channel through which the request of `slot` answers, from any thread.
    private func output(for slot: StateMachine.SlotID) -> Output {
        Output(handler: NIOLoopBound(self, eventLoop: context!.eventLoop), slot: slot)
    }

    private static func run(
        _ work: @escaping @Sendable (any RecordOutput) async -> Result<any ProtocolAnswer, ProtocolError>,
        _ output: Output
    ) -> Task<Void, Never> {
        Task { output.finish(await work(output)) }
    }

    /// A request of `slot` begins: `request_started` is sent.
    private func opened(_ slot: StateMachine.SlotID, op: String?) {
        let requestContext = RequestContext(connection: connectionID, op: op, peer: peer.credentials)
        requests[slot] = Request(context: requestContext)
        if requestStarted.hasListeners(sender: processor.sender) {
            requestStarted.dispatchRobust(sender: processor.sender, RequestStarted(request: requestContext))
        }
    }

    /// Answers `slot` at once, for a line that never became a request being served.
    private func answer(_ slot: StateMachine.SlotID, with error: ProtocolError) {
        opened(slot, op: nil)
        finish(slot, with: .failure(error))
    }

    // MARK: Writing, in order

    /// Record lines of `slot`; the promise completes when they are written and the socket can
    /// take more.
    fileprivate func write(_ bytes: [UInt8], slot: StateMachine.SlotID, promise: EventLoopPromise<Void>) {
        guard let context else {
            promise.fail(ConnectionGone())
            return
        }
        let outgoing = Outgoing(bytes: context.channel.allocator.buffer(bytes: bytes), promise: promise)
        switch machine.write(outgoing, slot: slot) {
        case .now: send(outgoing)
        case .queued: break
        case .gone: promise.fail(ConnectionGone())
        }
    }

    /// Completes `slot` with its final line (the request signals are sent) and writes what that
    /// makes writable.
    fileprivate func finish(_ slot: StateMachine.SlotID, with result: Result<any ProtocolAnswer, ProtocolError>) {
        guard let context, let request = requests.removeValue(forKey: slot) else { return }
        let line: [UInt8]
        switch result {
        case .success(let answer): line = ProtocolResponse.ok(answer.fields)
        case .failure(let error):
            line = ProtocolResponse.error(error)
            processor.counters.countRefusal(error.code)
            if gotRequestException.hasListeners(sender: processor.sender) {
                gotRequestException.dispatchRobust(
                    sender: processor.sender, GotRequestException(request: request.context, error: error))
            }
        }
        if requestFinished.hasListeners(sender: processor.sender) {
            let ok = if case .success = result { true } else { false }
            requestFinished.dispatchRobust(
                sender: processor.sender, RequestFinished(request: request.context, ok: ok))
        }
        let final = Outgoing(bytes: context.channel.allocator.buffer(bytes: line), promise: nil)
        for action in machine.finish(slot, final: final) ?? [] {
            switch action {
            case .write(let outgoing):
                send(outgoing)
            case .start(let started):
                guard let work = requests[started]?.start else { continue }
                requests[started]?.start = nil
                requests[started]?.task = Self.run(work, output(for: started))
            }
        }
    }

    private func send(_ outgoing: Outgoing) {
        guard let context else {
            outgoing.promise?.fail(ConnectionGone())
            return
        }
        context.write(wrapOutboundOut(outgoing.bytes), promise: nil)
        scheduleFlush()
        if let promise = outgoing.promise {
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
        let slot: StateMachine.SlotID

        func write(_ bytes: [UInt8]) async throws {
            let eventLoop = handler.eventLoop
            let promise = eventLoop.makePromise(of: Void.self)
            eventLoop.execute { [handler, slot] in handler.value.write(bytes, slot: slot, promise: promise) }
            try await promise.futureResult.get()
        }

        /// Completes the request with its final answer, then serves what that allows.
        func finish(_ result: Result<any ProtocolAnswer, ProtocolError>) {
            handler.eventLoop.execute { [handler, slot] in
                handler.value.finish(slot, with: result)
                handler.value.serve()
            }
        }
    }
}

extension RequestProcessor {
    /// The sender of this daemon's request signals and `setting_changed`: the processor itself,
    /// so that a receiver connected for one daemon hears no other in the same process.
    package var sender: Sender { .object(self) }
}
