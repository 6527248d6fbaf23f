import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import SpawnSupport
import Synchronization
import TestSupport
import Testing

@testable import AuthSignalDaemon

/// The daemon's serving path in process: a real audit log in a temporary directory, the
/// daemon's receivers and request processor over it, and connections made of the real
/// ``ConnectionHandler`` on NIO's testing channel. No socket and no process, so tests run in
/// parallel: each harness has its own signals and hears no other's events.
final class DaemonHarness: Sendable {
    let directory: TemporaryDirectory
    let store: AuditStore
    let receivers: AuditReceivers
    let processor: RequestProcessor
    /// The spool directory's path (made by ``drainer()``).
    let spoolPath: String
    /// The redaction key (and so the spool's key) of this harness.
    let key: RedactionKey
    /// What the processor and the connections logged.
    let log = LogLines()
    /// The logger writing to ``log``.
    var logger: Logger { Logger(label: "harness") { [log] _ in log } }

    /// A harness whose configuration is the defaults changed by `configure`, asking `accounts`
    /// which names are accounts and `accountFacts` for their uids and shells (`nil`: the system's).
    /// With `directory`,
    /// the audit log in it is opened again (a restart); otherwise a new temporary directory holds
    /// a new one.
    init(
        directory: TemporaryDirectory? = nil, accounts: KnownAccounts = .system,
        accountFacts: [String: AccountFacts]? = nil,
        _ configure: (inout DaemonConfig) -> Void = { _ in }
    ) throws {
        self.directory = try directory ?? TemporaryDirectory()
        var config = DaemonConfig()
        config.spoolDirectory = self.directory.path + "/spool"
        configure(&config)
        key = try RedactionKey(bytes: Array(repeating: 7, count: 32))
        let runtime = Runtime(config: config, key: key, accounts: accounts)
        var options = StoreOptions(config, trusted: runtime.access.trusted)
        if let accountFacts { options.accountFacts = { accountFacts[$0] } }
        store = try AuditStore(path: self.directory.path + "/audit.db", options: options)
        receivers = AuditReceivers(store: store, journal: nil)
        spoolPath = config.spoolDirectory
        processor = RequestProcessor(
            store: store, receivers: receivers, journal: nil, followers: FollowerHub(using: store.path),
            runtime: runtime, logger: Logger(label: "harness") { [log] _ in log })
    }

    /// Puts the configuration changed by `configure` in effect, as a reload does.
    func reconfigure(_ configure: (inout DaemonConfig) -> Void) {
        var config = processor.runtime.config
        configure(&config)
        processor.runtime = Runtime(config: config, key: key, accounts: processor.runtime.accounts)
    }

    /// A connection from `uid` (with `gid` as its only group), with a handler before it that
    /// counts the reads it passes on.
    func connect(uid: UInt32 = 0, gid: UInt32? = nil) async throws -> Connection {
        let counter = ReadCounter()
        let processor = self.processor
        let logger = self.logger
        let credentials = PeerCredentials(uid: uid, gid: gid ?? uid, pid: 4242)
        let peer = PeerIdentity(credentials: credentials, groups: [gid ?? uid])
        let channel = try await NIOAsyncTestingChannel { channel in
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(
                ConnectionHandler(processor: processor, peer: peer, connectionID: 1, logger: logger))
        }
        try await channel.connect(to: SocketAddress(unixDomainSocketPath: "/harness")).get()
        return Connection(channel: channel, reads: counter)
    }

    /// The harness's processor behind a real Unix socket anyone may connect to (its directory
    /// opened to all), served by ``SocketServer`` on one event loop, so that every connection
    /// shares it; `identify` says who a peer is.
    func listen(
        identify: @escaping @Sendable (PeerCredentials) -> PeerIdentity = PeerIdentity.init(credentials:)
    ) async throws -> Listener {
        chmod(directory.path, 0o755)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = SocketServer(group: group, processor: processor, logger: logger, identify: identify)
        let path = directory.path + "/authsignald.sock"
        try await server.start(.path(path, mode: 0o666, group: ""))
        return Listener(server: server, group: group, path: path)
    }

    /// A socket ``listen(identify:)`` serves.
    struct Listener {
        let server: SocketServer
        let group: MultiThreadedEventLoopGroup
        /// The socket's path.
        let path: String

        /// Runs the python `script` with the socket's path as its argument, in a process of `uid`
        /// with no groups (`setpriv`): a peer the kernel shows as that user. Returns the lines it
        /// printed.
        func python(_ script: String, as uid: UInt32) async throws -> [String] {
            try await run(
                "/usr/bin/setpriv",
                ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", "/usr/bin/python3", "-c", script, path]
            ).output.split(separator: "\n").map(String.init)
        }

        /// Closes every connection and the event loop.
        func stop() async throws {
            await server.drain(timeout: .seconds(1))
            try await group.shutdownGracefully()
        }
    }

    /// Sends `requests` (one line each) on a new connection from `uid` and returns the first
    /// `answers` lines (by default one per request).
    func exchange(_ requests: [String], uid: UInt32 = 0, answers: Int? = nil) async throws -> [String] {
        let connection = try await connect(uid: uid)
        try await connection.send(requests.map { $0 + "\n" }.joined())
        return try await connection.lines(answers ?? requests.count)
    }

    /// A drainer of this harness's spool, its directory prepared.
    func drainer() throws -> SpoolDrainer {
        let drainer = SpoolDrainer(
            directory: spoolPath, key: SpoolOpeningKey(redactionKey: key), processor: processor,
            logger: Logger(label: "harness"))
        try #require(drainer.prepare())
        return drainer
    }

    /// Every record in the log.
    func records() async throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        for try await record in store.records(matching: RecordFilter()) { records.append(record) }
        return records
    }

    /// Closes the audit log.
    func close() async throws {
        try await store.close()
    }

    /// The messages of a logger's lines, in order.
    final class LogLines: LogHandler, @unchecked Sendable {
        private let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            lines.withLock { $0.append("\(event.message)") }
        }

        /// Every line so far, one per line.
        var all: String { lines.withLock { $0.joined(separator: "\n") } }

        /// How many lines so far contain `text`.
        func count(_ text: String) -> Int { lines.withLock { $0.count { $0.contains(text) } } }
    }

    /// Counts the `read()`s that reach the head of the pipeline.
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = ByteBuffer
        let reads = Atomic<Int>(0)

        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// One client connection in process.
    final class Connection {
        let channel: NIOAsyncTestingChannel
        let reads: ReadCounter
        /// What the handler wrote that no call has returned yet.
        private var unread = ""

        init(channel: NIOAsyncTestingChannel, reads: ReadCounter) {
            self.channel = channel
            self.reads = reads
        }

        /// Writes `text` as if the client sent it.
        func send(_ text: String) async throws {
            try await channel.writeInbound(ByteBuffer(string: text))
        }

        /// Writes `bytes` as if the client sent them.
        func send(bytes: [UInt8]) async throws {
            try await channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        /// Ends the client's side, as a shutdown(2) of its writing half does.
        func endInput() {
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }

        /// Whether the handler has closed the connection, within 10 s.
        func closes() async -> Bool {
            let deadline = ContinuousClock.now + .seconds(10)
            while channel.isActive, ContinuousClock.now < deadline {
                await channel.testingEventLoop.run()
                try? await Task.sleep(for: .milliseconds(2))
            }
            return !channel.isActive
        }

        /// The next `count` lines the handler writes (fewer if 10 s pass first).
        func lines(_ count: Int) async throws -> [String] {
            let deadline = ContinuousClock.now + .seconds(10)
            var complete = unread.count { $0 == "\n" }
            while complete < count, ContinuousClock.now < deadline {
                // The testing loop runs what was scheduled on it (the handler's flush) only when
                // told to.
                await channel.testingEventLoop.run()
                if let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                    let text = String(buffer: buffer)
                    complete += text.utf8.count { $0 == UInt8(ascii: "\n") }
                    unread += text
                } else {
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            let split = unread.split(separator: "\n", maxSplits: count, omittingEmptySubsequences: false)
            let lines = split.prefix(min(count, complete)).map(String.init)
            unread = lines.count < split.count ? split[lines.count...].joined(separator: "\n") : ""
            return lines
        }

        /// The lines of the next answer: its record lines, if any, and its final line.
        func answer() async throws -> [String] {
            var lines: [String] = []
            while let line = try await self.lines(1).first {
                lines.append(line)
                if try Answer.object(line)["record"] == nil { break }
            }
            return lines
        }

        /// Sends `request` and returns its final line as JSON.
        func final(_ request: String) async throws -> [String: Any] {
            try object(try #require(try await self.request(request).last))
        }

        /// Sends `request` and returns its answer's lines.
        func request(_ request: String) async throws -> [String] {
            try await send(request + "\n")
            return try await answer()
        }
    }
}

/// Reading answer lines.
enum Answer {
    /// The line as a JSON object.
    static func object(_ line: String) throws -> JSONObject {
        guard case .object(let object) = try JSONParser.parse(Array(line.utf8)) else {
            throw ProtocolError(.invalidJSON, "not an object")
        }
        return object
    }

    /// The error code of an error line, `nil` for any other line.
    static func errorCode(_ line: String) throws -> String? {
        guard case .object(let error)? = try object(line)["error"], case .string(let code)? = error["code"] else {
            return nil
        }
        return code
    }

    /// The seqs of acknowledgement lines.
    static func seqs(_ lines: some Sequence<String>) throws -> [Int64] {
        try lines.map { line in
            guard case .int(let seq)? = try object(line)["seq"] else { throw ProtocolError(.invalidJSON, line) }
            return seq
        }
    }

    /// An emit request line (no newline) for a login of `user`.
    static func emit(_ user: String, signal: String = "user_logged_in", id: String? = nil) -> String {
        let key = id.map { #","id":"\#($0)""# } ?? ""
        return #"{"op":"emit","signal":"\#(signal)","sender":"harness","user":"\#(user)"\#(key)}"#
    }
}
