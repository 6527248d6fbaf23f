import AuthSignalCore
import AuthSignalProtocol
import CSystemd
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The Unix-socket listener: adopts the socket passed by socket activation or binds its own,
/// reads each peer's credentials from the kernel once and looks up its account's groups (on
/// the account look-up pool: NSS may wait on sssd or LDAP, and the event loop serves other
/// connections meanwhile), limits connections, and drains them on shutdown.
final class SocketServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let processor: RequestProcessor
    private let logger: Logger
    private let listener = Mutex<(any Channel)?>(nil)
    private let connections = Mutex<[UInt64: any Channel]>([:])
    /// Open connections per uid (root is not counted).
    private let connectionsPerUser = Mutex<[UInt32: Int]>([:])
    private let nextConnection = Atomic<UInt64>(1)
    /// Who a peer is: its credentials and its account's groups (a blocking look-up).
    private let identify: @Sendable (PeerCredentials) -> PeerIdentity

    init(
        group: MultiThreadedEventLoopGroup, processor: RequestProcessor, logger: Logger,
        identify: @escaping @Sendable (PeerCredentials) -> PeerIdentity = PeerIdentity.init(credentials:)
    ) {
        self.group = group
        self.identify = identify
        self.processor = processor
        self.logger = logger
    }

    /// Where the daemon listens.
    enum Endpoint {
        /// A listening socket passed by the service manager.
        case activated(fd: Int32)
        /// A path to bind, with its permission bits and group.
        case path(String, mode: UInt32, group: String)
    }

    /// Starts listening.
    func start(_ endpoint: Endpoint) async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in initialize(channel) }
        let channel: any Channel
        switch endpoint {
        case .activated(let fd):
            channel = try await bootstrap.withBoundSocket(fd).get()
        case .path(let path, let mode, let groupName):
            try Self.prepareDirectory(of: path)
            channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            // NIO binds with the process umask; set what the configuration says.
            try Self.applyOwnership(path: path, mode: mode, group: groupName, logger: logger)
        }
        listener.withLock { $0 = channel }
    }

    /// Stops accepting, lets every connection finish what it has read, and waits until all are
    /// closed (forcing them after `timeout`).
    func drain(timeout: Duration) async {
        if let channel = listener.withLock({ $0 }) { try? await channel.close() }
        let open = connections.withLock { Array($0.values) }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Drain()) }
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        for channel in open {
            let timer = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
            try? await channel.closeFuture.get()
            timer.cancel()
        }
    }

    private func initialize(_ channel: any Channel) -> EventLoopFuture<Void> {
        let connectionID = nextConnection.add(1, ordering: .relaxed).oldValue
        let config = processor.runtime.config
        let open = processor.counters.connectionOpened()
        connections.withLock { $0[connectionID] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            processor.counters.connectionClosed()
            _ = connections.withLock { $0.removeValue(forKey: connectionID) }
        }
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.close()
        }
        let future: EventLoopFuture<authsignal_ucred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let identify = self.identify
        let identified = future.flatMap { kernel in
            let credentials = PeerCredentials(uid: kernel.uid, gid: kernel.gid, pid: kernel.pid)
            // Root may do everything, so its groups are never asked: a PAM hook's connection
            // waits for no NSS source, nor behind other peers' look-ups on the pool.
            if credentials.uid == 0 {
                return channel.eventLoop.makeSucceededFuture(PeerIdentity(credentials: credentials, groups: [0]))
            }
            return AccountLookUps.pool.runIfActive(eventLoop: channel.eventLoop) { identify(credentials) }
        }
        return identified.flatMapThrowing { [self] peer in
            let credentials = peer.credentials
            let sync = channel.pipeline.syncOperations
            // Root (PAM's hooks) is exempt: other users' connections must not keep a login's
            // event out.
            guard open <= config.maxConnections || credentials.uid == 0 else {
                let line = ProtocolResponse.error(
                    ProtocolError(
                        .unavailable, "too many connections (MaxConnections=\(config.maxConnections)); try again"))
                try sync.addHandler(RejectingHandler(line: line))
                return
            }
            guard admit(uid: credentials.uid, limit: config.maxConnectionsPerUser, channel: channel) else {
                let line = ProtocolResponse.error(
                    ProtocolError(
                        .unavailable,
                        "too many connections from your user (MaxConnectionsPerUser=\(config.maxConnectionsPerUser)); "
                            + "try again"))
                try sync.addHandler(RejectingHandler(line: line))
                return
            }
            if config.idleTimeoutSeconds > 0 {
                try sync.addHandler(IdleStateHandler(readTimeout: .seconds(Int64(config.idleTimeoutSeconds))))
            }
            try sync.addHandler(
                ConnectionHandler(processor: processor, peer: peer, connectionID: connectionID, logger: logger))
        }
    }

    /// Counts a connection of `uid` until `channel` closes, unless `uid` already holds `limit`.
    /// Root is not limited.
    private func admit(uid: UInt32, limit: Int, channel: any Channel) -> Bool {
        guard uid != 0 else { return true }
        let admitted = connectionsPerUser.withLock { counts in
            guard counts[uid, default: 0] < limit else { return false }
            counts[uid, default: 0] += 1
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { [self] _ in
                connectionsPerUser.withLock { counts in
                    counts[uid, default: 1] -= 1
                    if counts[uid] == 0 { counts[uid] = nil }
                }
            }
        }
        return admitted
    }

    private static func prepareDirectory(of path: String) throws {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        guard !directory.isEmpty else { return }
        var info = stat()
        if stat(directory, &info) != 0 {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                throw DaemonError.socket("cannot create \(directory): \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func applyOwnership(path: String, mode: UInt32, group: String, logger: Logger) throws {
        if !group.isEmpty {
            if let entry = getgrnam(group) {
                if chown(path, UInt32.max, entry.pointee.gr_gid) != 0 {
                    logger.warning(
                        "cannot give the socket to group \(group): \(String(cString: strerror(errno)))",
                        metadata: ["path": "\(path)"])
                }
            } else {
                logger.warning(
                    "no group \(group) for the socket; keeping the daemon's group", metadata: ["path": "\(path)"])
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw DaemonError.socket("cannot set mode of \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Answers a connection over the limit with one error line and closes it.
private final class RejectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let line: [UInt8]

    init(line: [UInt8]) { self.line = line }

    func channelActive(context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(bytes: line)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Why the daemon cannot start.
package enum DaemonError: Error, CustomStringConvertible {
    /// The socket cannot be set up.
    case socket(String)
    /// The configuration is unusable.
    case config(String)

    /// A message for people.
    package var description: String {
        switch self {
        case .socket(let message): "socket: \(message)"
        case .config(let message): "configuration: \(message)"
        }
    }
}
