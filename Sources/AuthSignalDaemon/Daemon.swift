import AuditStore
import AuthSignalCore
import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
public import Signals
import Synchronization
public import Systemd
import UnixSignals

/// authsignald as a service: opens the audit log, wires the signals, listens, tells systemd it
/// is ready, reloads on SIGHUP, and on graceful shutdown (SIGTERM) stops accepting, answers
/// everything already read, and closes the audit log cleanly.
public final class Daemon: Service {
    /// Where the configuration comes from.
    public struct ConfigSource: Sendable {
        /// The main file.
        public var path: String
        /// Whether the main file must exist (it must when named with `--config`).
        public var required: Bool

        /// Creates a source.
        public init(path: String, required: Bool) {
            self.path = path
            self.required = required
        }
    }

    private let source: ConfigSource
    private let logger: Logger
    private let notifier = Notifier()
    private let health: WatchdogHealth

    /// A daemon reading its configuration from `source`; while it runs, `health` holds checks
    /// that its event loops and audit log writer make progress (for ``WatchdogService``).
    public init(source: ConfigSource, logger: Logger, health: WatchdogHealth = WatchdogHealth()) {
        self.source = source
        self.logger = logger
        self.health = health
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        let config: DaemonConfig
        do {
            config = try DaemonConfig.load(path: source.path, required: source.required)
        } catch {
            throw DaemonError.config("\n\(error)")
        }
        let key = try RedactionKey.loadOrCreate(at: config.keyFile)
        var options = StoreOptions()
        if config.maxAgeDays > 0 { options.maximumAge = .seconds(config.maxAgeDays * 86400) }
        if config.maxRecords > 0 { options.maximumRecords = config.maxRecords }
        options.writerCacheKiB = config.cacheMiB * 1024
        let store = try AuditStore(path: config.storePath, options: options)
        let retention = options.maximumAge != nil || options.maximumRecords != nil
        let journal = JournalSink(settings: JournalSink.Settings(config), logID: store.logID)
        let followers = FollowerHub()
        let receivers = AuditReceivers(store: store, journal: journal)
        receivers.ready(journal: config.journalEnabled)
        let runtime = Runtime(config: config, key: key)
        let logger = self.logger
        let refusals = RefusalLog()
        gotRequestException.connect(dispatchUID: "\(AuditReceivers.uid).log") { _, payload in
            guard let error = payload.error as? ProtocolError else { return }
            let uid = payload.request?.peer.uid ?? 0
            let (decision, summary) = refusals.record(uid: uid, code: error.code)
            if let summary { logger.notice("\(summary.message)") }
            guard decision == .log else { return }
            let metadata: Logger.Metadata = [
                "connection": "\(payload.request?.connection ?? 0)", "uid": "\(uid)",
                "pid": "\(payload.request?.peer.pid ?? 0)", "code": "\(error.code.rawValue)",
            ]
            // Refused access is what a security team wants to see; malformed input is worth
            // seeing too (a broken hook loses events), at a lower priority. Both are rate-limited
            // per uid so that they cannot crowd the audit entries out of the journal.
            logger.log(
                level: error.code == .forbidden ? .notice : .info, "request rejected: \(error)", metadata: metadata)
        }
        defer { gotRequestException.disconnect(dispatchUID: "\(AuditReceivers.uid).log") }
        settingChanged.connect(sender: Daemon.sender, dispatchUID: "\(AuditReceivers.uid).log") { _, change in
            logger.notice("setting_changed \(change.setting)=\(change.value ?? "")")
        }
        defer { settingChanged.disconnect(dispatchUID: "\(AuditReceivers.uid).log", sender: Daemon.sender) }
        for problem in runtime.access.unresolved { logger.warning("access list: \(problem)") }
        let processor = RequestProcessor(
            store: store, receivers: receivers, journal: journal, followers: followers, runtime: runtime)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, NIOCore.System.coreCount))
        let server = SocketServer(group: group, processor: processor, logger: logger)
        let heartbeats = EventLoopHeartbeats(group: group)
        health.register("event loops") { heartbeats.stall(allowing: $0) }
        health.register("audit log writer") { allowed in
            guard let stall = store.writerStall, stall > allowed else { return nil }
            return "no transaction finished for \(stall)"
        }
        defer {
            health.unregister("event loops")
            health.unregister("audit log writer")
            heartbeats.stop()
        }
        let endpoint = try Self.endpoint(config)
        try await server.start(endpoint)
        let head = store.chainHead()
        let listening =
            if case .activated = endpoint { "the socket passed by systemd" } else { config.socketPath }
        logger.notice(
            "authsignald started: listening on \(listening), audit log \(config.storePath) at record \(head.seq)",
            metadata: ["redaction": "\(config.redactionMode.rawValue)", "journal": "\(config.journalEnabled)"])
        notifier.ready(status: "Listening; audit log at record \(head.seq)")
        let spool = SpoolDrainer(
            directory: config.spoolDirectory, key: SpoolOpeningKey(redactionKey: key), processor: processor,
            logger: logger)
        let spoolUsable = spool.prepare()

        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    await self.reloadOnHangup(processor: processor, receivers: receivers, journal: journal, key: key)
                }
                tasks.addTask { await self.report(processor: processor, journal: journal) }
                tasks.addTask { await Self.summarise(refusals, logger: logger) }
                if spoolUsable {
                    tasks.addTask { await spool.run() }
                }
                if retention {
                    tasks.addTask { await self.prune(store) }
                }
                await tasks.waitForAll()
            }
        }

        notifier.stopping(status: "Stopping: answering the requests already received")
        logger.notice("authsignald stopping: answering the requests already received")
        followers.finishAll()
        await server.drain(timeout: Duration.seconds(20))
        receivers.unready()
        try await store.close()
        journal.stop()
        heartbeats.stop()
        try? await group.shutdownGracefully()
        let final = store.chainHead()
        logger.notice("authsignald stopped: audit log closed at record \(final.seq)")
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

    /// Reloads the configuration on each SIGHUP: `RELOADING=1`, `setting_changed` for each changed
    /// key, `READY=1`. A configuration with problems is reported and the old one kept.
    private func reloadOnHangup(
        processor: RequestProcessor, receivers: AuditReceivers, journal: JournalSink, key: RedactionKey
    ) async {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups {
            notifier.reloading()
            let old = processor.runtime.config
            let new: DaemonConfig
            do {
                new = try DaemonConfig.load(path: source.path, required: source.required)
            } catch {
                logger.error("reload refused, keeping the running configuration:\n\(error)")
                notifier.ready(status: "Reload refused: configuration has errors; running with the previous one")
                continue
            }
            // Keys that need a restart keep their running values.
            let (applied, restartOnly) = new.keepingRestartOnlySettings(of: old)
            let oldSettings = old.settings
            let runtime = Runtime(config: applied, key: key)
            processor.runtime = runtime
            journal.update(JournalSink.Settings(applied))
            receivers.setJournal(enabled: applied.journalEnabled)
            for problem in runtime.access.unresolved { logger.warning("access list: \(problem)") }
            let appliedSettings = applied.settings
            var changed: [String] = []
            for setting in DaemonConfig.keyNames where oldSettings[setting] != appliedSettings[setting] {
                changed.append(setting)
                await settingChanged.sendRobust(
                    sender: Daemon.sender,
                    SettingChanged(setting: setting, value: appliedSettings[setting], enter: true))
            }
            if !restartOnly.isEmpty {
                logger.warning(
                    "reload: \(restartOnly.sorted().joined(separator: ", ")) changed; these take effect after a restart"
                )
            }
            logger.notice(
                "authsignald reloaded its configuration: \(changed.isEmpty ? "nothing changed" : "changed " + changed.joined(separator: ", "))"
            )
            notifier.ready(status: "Reloaded; \(changed.count) settings changed")
        }
    }

    /// Every `ReportIntervalSec`: the status line, and a warning when the journal lost entries.
    private func report(processor: RequestProcessor, journal: JournalSink) async {
        var reported = JournalSink.Counters()
        while !Task.isCancelled {
            let interval = processor.runtime.config.reportIntervalSeconds
            try? await Task.sleep(for: .seconds(interval))
            if Task.isCancelled { return }
            let counters = journal.counters
            let head = processor.store.chainHead()
            notifier.status(
                "Audit log at record \(head.seq); \(processor.connections.load(ordering: .relaxed)) connections; "
                    + "journal sent \(counters.sent), dropped \(counters.dropped), failed \(counters.failed)")
            if counters.dropped > reported.dropped || counters.failed > reported.failed
                || counters.anchorFailures > reported.anchorFailures
            {
                let lost =
                    "journal lost entries: \(counters.dropped - reported.dropped) dropped (queue full), "
                    + "\(counters.failed - reported.failed) failed, "
                    + "\(counters.anchorFailures - reported.anchorFailures) anchors failed in the last \(interval) s; "
                    + "the audit log has every record"
                logger.warning(
                    "\(lost)",
                    metadata: [
                        "dropped_total": "\(counters.dropped)", "failed_total": "\(counters.failed)",
                    ])
            }
            reported = counters
        }
    }

    /// Logs the summaries of refusal bursts that have ended, every window.
    private static func summarise(_ refusals: RefusalLog, logger: Logger) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: refusals.window)
            for summary in refusals.flush() { logger.notice("\(summary.message)") }
        }
    }

    /// Applies retention every ten minutes.
    private func prune(_ store: AuditStore) async {
        while !Task.isCancelled {
            do {
                let result = try await store.prune()
                if result.deleted > 0 { logger.info("retention pruned \(result.deleted) records") }
            } catch {
                logger.error("retention failed: \(error)")
            }
            try? await Task.sleep(for: .seconds(600))
        }
    }

    /// The sender of the daemon's own signals (`setting_changed`).
    public static let sender = Sender.type(Daemon.self)
}
