package import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
import Foundation
package import Logging
import NIOCore
import NIOPosix
package import ServiceLifecycle
package import Systemd

/// authsignald assembled: the configuration loaded, the redaction key and the audit log open,
/// and the parts built from them, as the ``services`` a `ServiceGroup` runs.
///
/// The services start in their order and shut down in reverse, each waiting for the one after it
/// (docs/architecture.md): at SIGTERM the periodic work stops, the listener stops accepting and
/// answers everything already read, then the audit log closes, then the journal sink sends what
/// it has queued and its final anchor, then the event loops shut down.
package struct Daemon: Sendable {
    /// Where the configuration comes from.
    package struct ConfigSource: Sendable {
        /// The main file.
        package var path: String
        /// Whether the main file must exist (it must when named with `--config`).
        package var required: Bool

        /// Creates a source.
        package init(path: String, required: Bool) {
            self.path = path
            self.required = required
        }
    }

    /// The daemon's services, in start order (shutdown runs in reverse).
    package let services: [ServiceGroupConfiguration.ServiceConfiguration]

    /// Loads the configuration from `source`, opens the key and the audit log, and builds the
    /// services; `health` receives the checks that the event loops and the audit log writer make
    /// progress (for ``WatchdogService``, which the caller runs after these). `release` is the
    /// program's version, recorded when the daemon starts.
    /// - Throws: ``DaemonError`` for a bad configuration or socket; errors opening the key or log.
    package init(
        source: ConfigSource, release: String, logger: Logger, health: WatchdogHealth = WatchdogHealth()
    ) throws {
        let config: DaemonConfig
        do {
            config = try DaemonConfig.load(path: source.path, required: source.required)
        } catch {
            throw DaemonError.config("\n\(error)")
        }
        let key = try RedactionKey.loadOrCreate(at: config.keyFile)
        let endpoint = try Self.endpoint(config)
        // `[Access] TrustedUsers` is resolved once, here, for the access policy, the store and the
        // journal alike.
        let runtime = Runtime(config: config, key: key)
        for problem in runtime.access.unresolved { logger.warning("access list: \(problem)") }
        var options = StoreOptions(config, trusted: runtime.access.trusted)
        // A migration that rebuilds derived tables of a large log takes a while: each step tells
        // systemd that start-up goes on (so its start timeout does not kill it) and why.
        options.migrationProgress = { status in
            Notifier().extendStart(by: .seconds(60), status: status)
            logger.notice("audit log migration: \(status)")
        }
        let store = try AuditStore(path: config.storePath, options: options)
        // Where the journal copy got to, so that one behind at a restart catches up (not while
        // the journal is off: what was committed then was not meant for it).
        let position =
            config.journalEnabled ? JournalPosition(databasePath: config.storePath, logID: store.logID) : nil
        let journal = JournalSink(
            settings: JournalSink.Settings(config, trusted: runtime.access.trusted), logID: store.logID,
            position: position,
            head: store.chainHead().seq
        ) { after, limit in
            try store.records(after: after, limit: limit)
        }
        let followers = FollowerHub(using: store.path)
        let receivers = AuditReceivers(store: store, journal: journal)
        receivers.setJournal(enabled: config.journalEnabled)
        let processor = RequestProcessor(
            store: store, receivers: receivers, journal: journal, followers: followers, runtime: runtime,
            logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, NIOCore.System.coreCount))
        let notifier = Notifier()
        let listener = ListenerService(
            server: SocketServer(group: group, processor: processor, logger: logger), endpoint: endpoint,
            store: store, followers: followers, config: config, notifier: notifier, logger: logger)
        let spool = SpoolDrainer(
            directory: config.spoolDirectory, key: SpoolOpeningKey(redactionKey: key), processor: processor,
            logger: logger)
        let recorder = DaemonRecorder(processor: processor, lifecycle: config.lifecycleRecords)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: EventLoopService(group: group, health: health)),
            .init(service: JournalService(journal: journal)),
            .init(
                service: AuditLogService(
                    store: store, receivers: receivers, recorder: recorder, health: health, release: release,
                    logger: logger)),
            .init(service: DiagnosticsService(sender: processor.sender, logger: logger)),
            .init(service: listener),
            .init(
                service: ReloadService(
                    source: source, processor: processor, receivers: receivers, journal: journal, key: key,
                    recorder: recorder, notifier: notifier, logger: logger)),
            .init(service: StatusReporter(processor: processor, journal: journal, notifier: notifier, logger: logger)),
            .init(service: SpoolService(drainer: spool), successTerminationBehavior: .ignore),
        ]
        if config.watchAccounts {
            var files = AccountSnapshot.Files()
            files.passwd = config.passwdFile
            files.shadow = config.shadowFile
            files.group = config.groupFile
            files.gshadow = config.gshadowFile
            services.append(
                .init(
                    service: AccountWatchService(
                        files: files, statePath: config.storePath + ".accounts", recorder: recorder, logger: logger)))
        }
        if options.maximumAge != nil || options.maximumRecords != nil {
            services.append(.init(service: RetentionService(store: store, recorder: recorder, logger: logger)))
        }
        self.services = services
    }

    private static func endpoint(_ config: DaemonConfig) throws -> SocketServer.Endpoint {
        let passed = ListenSockets.take()
        if !passed.isEmpty {
            guard
                let socket = ListenSockets.unixStreamSocket(named: "authsignald", in: passed)
                    ?? ListenSockets.unixStreamSocket(in: passed)
            else {
                throw DaemonError.socket("systemd passed \(passed.count) sockets but no listening Unix stream socket")
            }
            return .activated(fd: socket.fd)
        }
        return .path(config.socketPath, mode: config.socketMode, group: config.socketGroup)
    }
}

extension StoreOptions {
    /// The audit log's options as `config` sets them, with `trusted` resolved from
    /// `[Access] TrustedUsers`.
    package init(_ config: DaemonConfig, trusted: TrustedSenders) {
        self.init()
        if config.maxAgeDays > 0 { maximumAge = .seconds(config.maxAgeDays * 86400) }
        if config.maxRecords > 0 { maximumRecords = config.maxRecords }
        writerCacheKiB = config.cacheMiB * 1024
        trustedSenders = trusted
        if !config.verdicts.enabled.isEmpty { verdicts = config.verdicts }
    }
}
