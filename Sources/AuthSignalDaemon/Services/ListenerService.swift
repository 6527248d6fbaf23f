import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Logging
import ServiceLifecycle
import Systemd

/// The socket: listens, tells systemd the daemon is ready, and at shutdown stops accepting, ends
/// the follows, and lets every connection finish what it has read (closing stragglers after
/// ``drainTimeout``).
struct ListenerService: Service {
    let server: SocketServer
    let endpoint: SocketServer.Endpoint
    let store: AuditStore
    let followers: FollowerHub
    let config: DaemonConfig
    let notifier: Notifier
    let logger: Logger

    /// How long connections may take to finish at shutdown.
    static let drainTimeout = Duration.seconds(20)

    func run() async throws {
        try await server.start(endpoint)
        let head = store.chainHead()
        let journalUnreachable = config.journalEnabled ? JournalWriter.unreachableReason() : nil
        let listening =
            if case .activated = endpoint { "the socket passed by systemd" } else { config.socketPath }
        logger.notice(
            "authsignald started: listening on \(listening), audit log \(config.storePath) at record \(head.seq)",
            metadata: [
                "redaction": "\(config.redactionMode.rawValue)",
                "journal": "\(journalUnreachable == nil ? String(config.journalEnabled) : "unreachable")",
            ])
        if let journalUnreachable {
            let warning =
                "[Journal] Enabled=yes but journald cannot be reached (\(journalUnreachable)): its entries fail, "
                + "and are counted, until it can; the audit log has every record"
            logger.warning("\(warning)")
        }
        notifier.ready(status: "Listening; audit log at record \(head.seq)")
        try? await gracefulShutdown()
        notifier.stopping(status: "Stopping: answering the requests already received")
        logger.notice("authsignald stopping: answering the requests already received")
        followers.finishAll()
        await server.drain(timeout: Self.drainTimeout)
    }
}
