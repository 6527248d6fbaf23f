import AuditJournal
import AuditStore
import AuthSignalClient
package import AuthSignalCore
package import AuthSignalProtocol
import Foundation
import Glibc
package import Logging
import ServiceLifecycle
import Synchronization

/// The alert service (`authsignal alerts run`, the unit authsignal-alerts.service): reads each
/// record the daemon commits, once, and puts an alert in the outbox for every rule and sink it
/// fires; delivers the outbox through the sinks, as often as each rule allows; and watches the
/// audit path's health (docs/alerts.md).
///
/// A process of its own, apart from the daemon: the daemon's sandbox has no network and no
/// privileges to gain (sendmail needs them), and neither ingest nor any login ever waits on a
/// sink. It reads the audit log read-only and writes only its outbox.
package final class AlertService: Service, Sendable {
    /// What the service acts on: the parts of the configuration it uses.
    package struct Settings: Sendable {
        package var alerts: AlertSettings
        /// The audit log.
        package var storePath: String
        /// Whose events are trusted (`[Access] TrustedUsers`, resolved).
        package var trusted: TrustedSenders
        /// The daemon's socket, for its counters.
        package var socketPath: String
        /// How a fleet's logins are judged across its hosts, with `[Alerts] FleetDirectory`.
        package var verdicts: VerdictSettings

        package init(
            alerts: AlertSettings, storePath: String, trusted: TrustedSenders,
            socketPath: String = WireProtocol.defaultSocketPath, verdicts: VerdictSettings = VerdictSettings()
        ) {
            self.alerts = alerts
            self.storePath = storePath
            self.trusted = trusted
            self.socketPath = socketPath
            self.verdicts = verdicts
        }

        /// The settings of `config`.
        package init(_ config: DaemonConfig) {
            self.init(
                alerts: config.alerts, storePath: config.storePath, trusted: TrustedSenders(config),
                socketPath: config.socketPath, verdicts: config.verdicts)
        }
    }

    private struct GroupKey: Hashable {
        var rule: String
        var sink: String
    }

    private struct State {
        var settings: Settings
        var log: ReadOnlyAuditLog?
        /// The deliveries under way, by group and by sink.
        var busyGroups: Set<GroupKey> = []
        var busySinks: [String: Int] = [:]
        /// What the looks at the audit path have raised.
        var health = HealthWatch()
        var lastHealthCheck = ContinuousClock.now - .seconds(3600)
        var lastPrune = ContinuousClock.now - .seconds(86400)
        /// Whether a missing audit log was reported (once, until it appears).
        var reportedMissingLog = false
    }

    /// Records read from the audit log at most per transaction of the outbox.
    static let batch = 1000
    /// Records of a fleet's collected files handled at most per round, the history learned at a
    /// start included (about a second's reading): health looks and deliveries go on meanwhile.
    static let fleetBudget = 100_000
    /// Alerts sent or given up are kept this long, for `authsignal alerts`.
    static let keep = Duration.seconds(90 * 86400)

    /// What a fleet's collector reads of the hosts' records, with `[Alerts] FleetDirectory`.
    private struct Fleet {
        var feed: FleetRecordFeed?
        /// The directory and verdict settings `feed` follows and judges with.
        var directory: String?
        var verdicts: VerdictSettings?
        /// Whether a directory that cannot be read was reported (once, until it can).
        var reportedUnreadable = false
    }

    private let outbox: Outbox
    private let fleet = Mutex(Fleet())
    /// The fleet's host statuses, kept across health looks, and the directory they are of.
    private let fleetWatch = Mutex((directory: String?.none, watch: FleetStatusWatch()))
    private let hookReports = HookReports()
    private let host: String
    private let logger: Logger
    /// How long the service rests between looks at the audit log and the outbox.
    private let tick: Duration
    /// How often it looks at the audit path's health.
    private let healthInterval: Duration
    private let state: Mutex<State>

    /// A service acting on `settings`, with the outbox it names open.
    package init(
        settings: Settings, logger: Logger, tick: Duration = .milliseconds(250),
        healthInterval: Duration = .seconds(30)
    ) throws {
        outbox = try Outbox(path: settings.alerts.databasePath)
        host = ProcessInfo.processInfo.hostName
        self.logger = logger
        self.tick = tick
        self.healthInterval = healthInterval
        state = Mutex(State(settings: settings))
    }

    /// Acts on `settings` from now on (a reload): the rules and sinks, and whose events count.
    package func update(_ settings: Settings) {
        state.withLock { state in
            if state.settings.storePath != settings.storePath || state.settings.trusted != settings.trusted {
                state.log = nil
            }
            state.settings = settings
        }
    }

    package func run() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                for delivery in await step() { group.addTask { await delivery() } }
                try? await Task.sleep(for: tick)
            }
            // Deliveries cut short stay in the outbox and are sent after a restart.
            group.cancelAll()
        }
    }

    /// One round: reads what the daemon committed, checks health, and returns the deliveries
    /// due, each marked under way.
    func step() async -> [@Sendable () async -> Void] {
        do {
            try await readCommitted()
        } catch is CancellationError {
            return []
        } catch {
            logger.error("alerts: cannot read the audit log: \(error)")
        }
        if state.withLock({ $0.settings.alerts.fleetDirectory }) != nil {
            await readFleetOffThePool()
        } else {
            fleet.withLock { $0 = Fleet() }
        }
        await checkHealth()
        do {
            return try dueDeliveries()
        } catch {
            logger.error("alerts: cannot read the outbox: \(error)")
            return []
        }
    }

    // MARK: Reading the audit log

    /// Reads one batch of the records committed since the last round and stores the alerts they
    /// fire. One batch a round (4,000 records a second at the unit's pace): during a flood the
    /// service reads behind the daemon and catches up after, rather than take the CPU that ingest
    /// needs (on the 2-core bench, ten batches a round cost 5 % of ingest, one costs none).
    private func readCommitted() async throws {
        guard let log = openLog() else { return }
        guard try outbox.waitingCount() < Outbox.capacity else {
            logger.warning("alerts: \(Outbox.capacity) alerts wait; reading the audit log resumes as they go")
            return
        }
        try await readBatch(log)
    }

    /// Reads one batch; returns whether more may follow at once.
    @discardableResult
    private func readBatch(_ log: ReadOnlyAuditLog) async throws -> Bool {
        let logID = log.logID ?? ""
        let head = try await log.settledHead()
        guard let position = try outbox.position(), position.logID == logID else {
            // A first start, or a new audit log: alerts start with what is committed from now on
            // (`authsignal alerts replay` shows what the rules make of the history).
            try outbox.add([], movingTo: Outbox.Position(logID: logID, seq: head), at: Self.now())
            logger.notice("alerts: reading audit log \(logID) from seq \(head) on")
            return false
        }
        guard head > position.seq else { return false }
        let records = try await log.records(after: position.seq, through: head, limit: Self.batch)
        let (rules, trusted) = state.withLock { ($0.settings.alerts.rules, $0.settings.trusted) }
        let matcher = RuleMatcher(rules: rules, trusted: trusted)
        var alerts: [Outbox.NewAlert] = []
        for firing in try await matcher.firings(records, in: log) {
            for rule in firing.rules {
                for sink in rule.sinks {
                    alerts.append(
                        Outbox.NewAlert(
                            rule: rule.name, sink: sink, key: "record:\(logID):\(firing.record.seq)",
                            event: firing.event, seq: firing.record.seq))
                }
            }
        }
        let full = records.count == Self.batch
        let through = full ? records.last!.seq : head
        try outbox.add(alerts, movingTo: Outbox.Position(logID: logID, seq: through), at: Self.now())
        return full
    }

    /// The audit log, opened read-only on first use; `nil` while it does not exist.
    private func openLog() -> ReadOnlyAuditLog? {
        let (log, settings, reported) = state.withLock { ($0.log, $0.settings, $0.reportedMissingLog) }
        if let log { return log }
        do {
            let opened = try ReadOnlyAuditLog(path: settings.storePath, trusted: settings.trusted)
            state.withLock { state in
                state.log = opened
                state.reportedMissingLog = false
            }
            return opened
        } catch {
            if !reported {
                logger.warning("alerts: the audit log cannot be opened yet (\(error)); trying again")
                state.withLock { $0.reportedMissingLog = true }
            }
            return nil
        }
    }

    // MARK: Reading a fleet's collected records

    /// ``readFleet()`` on a thread of its own: the first round reads the fleet's whole history,
    /// which must not hold a thread of the pool that deliveries run on.
    private func readFleetOffThePool() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [self] in
                readFleet()
                continuation.resume()
            }
        }
    }

    /// With `[Alerts] FleetDirectory`: reads one batch of the records that reached the collector
    /// since the last round, judges them against the whole fleet, and stores the alerts they fire
    /// together with each host's new position. The first round after a start learns the fleet's
    /// history first (``FleetRecordFeed``).
    private func readFleet() {
        let settings = state.withLock { $0.settings }
        guard let directory = settings.alerts.fleetDirectory else { return }
        do {
            guard try outbox.waitingCount() < Outbox.capacity else { return }
        } catch {
            return logger.error("alerts: cannot read the outbox: \(error)")
        }
        let matcher = RuleMatcher(rules: settings.alerts.rules, trusted: settings.trusted)
        fleet.withLock { fleet in
            do {
                if fleet.feed == nil || fleet.directory != directory || fleet.verdicts != settings.verdicts {
                    let start = try outbox.fleetStart(directory: directory, now: Self.now())
                    fleet.feed = try FleetRecordFeed(
                        directory: directory, settings: settings.verdicts, positions: start.positions,
                        since: Microseconds.date(start.since))
                    (fleet.directory, fleet.verdicts) = (directory, settings.verdicts)
                    logger.notice("alerts: reading the records collected in \(directory)")
                }
                let records = try fleet.feed?.next(limit: Self.batch, budget: Self.fleetBudget) ?? []
                fleet.reportedUnreadable = false
                guard !records.isEmpty else { return }
                var alerts: [Outbox.NewAlert] = []
                for firing in matcher.firings(records) {
                    for rule in firing.rules {
                        for sink in rule.sinks {
                            alerts.append(
                                Outbox.NewAlert(
                                    rule: rule.name, sink: sink, key: firing.key, event: firing.event,
                                    seq: firing.record.entry.record.seq))
                        }
                    }
                }
                var positions: [String: FleetPosition] = [:]
                for record in records {
                    if let host = record.entry.record.host { positions[host] = record.position }
                }
                try outbox.add(alerts, movingTo: nil, fleet: positions, at: Self.now())
            } catch {
                // Read again from the stored positions next round: nothing read is lost.
                fleet.feed = nil
                if !fleet.reportedUnreadable {
                    logger.error("alerts: cannot read the records collected in \(directory): \(error); trying again")
                    fleet.reportedUnreadable = true
                }
            }
        }
    }

    // MARK: Health

    /// Looks at the audit path every `healthInterval` and raises what ``HealthWatch`` finds;
    /// prunes the outbox once a day.
    private func checkHealth() async {
        let (due, settings, look) = state.withLock { state -> (Bool, Settings, Int64) in
            guard ContinuousClock.now - state.lastHealthCheck >= healthInterval else {
                return (false, state.settings, 0)
            }
            state.lastHealthCheck = .now
            return (true, state.settings, Self.now())
        }
        guard due else { return }
        var observation = HealthObservation()
        if let usage = DiskUsage(path: (settings.storePath as NSString).deletingLastPathComponent) {
            observation.diskPercent = usage.percent
            observation.diskAvailableMiB = usage.availableMiB
        }
        observation.stats = await Self.daemonStats(socket: settings.socketPath)
        observation.verify = VerifyStatus.read(from: VerifyStatus.path(forStore: settings.storePath))
        observation.hookReports = hookReports.new()
        if let directory = settings.alerts.fleetDirectory {
            observation.fleet = fleet(
                in: directory, silentAfter: TimeInterval(settings.alerts.fleetSilentAfterSeconds))
        }
        let alerts = state.withLock { $0.health.alerts(observation, settings: settings.alerts, look: look) }
        for alert in alerts { raise(alert.condition, key: alert.key, detail: alert.detail) }
        let prune = state.withLock { state -> Bool in
            guard ContinuousClock.now - state.lastPrune >= .seconds(86400) else { return false }
            state.lastPrune = .now
            return true
        }
        if prune {
            do {
                try outbox.prune(before: Self.now() - Int64(Self.keep.components.seconds) * 1_000_000)
            } catch {
                logger.error("alerts: cannot prune the outbox: \(error)")
            }
        }
    }

    /// The daemon's counters, asked on a thread of its own (the client blocks, at most 2 s);
    /// `nil` when the daemon does not answer.
    private static func daemonStats(socket: String) async -> StatsAnswer.Service? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let answer = try? DaemonConnection(path: socket, deadline: .now + .seconds(2))
                    .request(.stats, as: StatsAnswer.self)
                continuation.resume(returning: answer?.service)
            }
        }
    }

    /// Each host of a collector's `directory` (``HostStatus``): silent when not heard from for
    /// `silentAfter`; `nil` when the directory cannot be read as a collector's.
    private func fleet(in directory: String, silentAfter: TimeInterval) -> [FleetHostHealth]? {
        let statuses = fleetWatch.withLock { (kept: inout (directory: String?, watch: FleetStatusWatch)) in
            if kept.directory != directory { kept = (directory, FleetStatusWatch()) }
            guard let journal = try? JournalHistory(directory: directory) else { return [HostStatus]?.none }
            return try? kept.watch.statuses(of: journal)
        }
        guard let statuses else { return nil }
        let now = Date()
        return statuses.map { status in
            FleetHostHealth(
                host: status.host,
                silentFor: status.isSilent(now: now, allowed: silentAfter)
                    ? status.heard.map { now.timeIntervalSince($0) } ?? .infinity : nil,
                problems: status.problems)
        }
    }

    /// Puts an alert on `condition` in the outbox for every rule watching it, unique by `key`.
    private func raise(_ condition: HealthCondition, key: String, detail: String) {
        let rules = state.withLock { $0.settings.alerts.rules }.filter { $0.health.contains(condition) }
        logger.warning("alerts: \(condition.rawValue): \(detail)")
        let event = AlertEvent(kind: .health, condition: condition.rawValue, detail: detail, at: Date())
        let alerts = rules.flatMap { rule in
            rule.sinks.map { sink in
                Outbox.NewAlert(rule: rule.name, sink: sink, key: "health:\(condition.rawValue):\(key)", event: event)
            }
        }
        do {
            try outbox.add(alerts, movingTo: nil, at: Self.now())
        } catch {
            logger.critical("alerts: cannot store the \(condition.rawValue) alert: \(error)")
        }
    }

    // MARK: Delivering

    /// The deliveries due now that no limit holds back, each marked under way.
    private func dueDeliveries() throws -> [@Sendable () async -> Void] {
        let now = Self.now()
        var deliveries: [@Sendable () async -> Void] = []
        let settings = state.withLock { $0.settings.alerts }
        for group in try outbox.groups() {
            guard let rule = settings.rules.first(where: { $0.name == group.rule }), rule.sinks.contains(group.sink),
                let sink = settings.sink(named: group.sink)
            else {
                let dropped = try outbox.drop(
                    rule: group.rule, sink: group.sink, at: now,
                    reason: "the configuration no longer sends rule \(group.rule) to sink \(group.sink)")
                logger.warning(
                    "alerts: dropped \(dropped) waiting alerts of rule \(group.rule) for sink \(group.sink): no longer configured"
                )
                continue
            }
            guard GroupSchedule.due(group, rule: rule) <= now else { continue }
            let key = GroupKey(rule: rule.name, sink: sink.name)
            let claimed = state.withLock { state -> Bool in
                guard !state.busyGroups.contains(key), state.busySinks[sink.name, default: 0] < sink.concurrency else {
                    return false
                }
                state.busyGroups.insert(key)
                state.busySinks[sink.name, default: 0] += 1
                return true
            }
            if claimed {
                deliveries.append { [self] in
                    await deliver(rule: rule, sink: sink, failures: group.failures)
                    state.withLock { state in
                        state.busyGroups.remove(key)
                        state.busySinks[sink.name, default: 1] -= 1
                    }
                }
            }
        }
        return deliveries
    }

    /// Sends the waiting alerts of `rule` for `sink` as one message, and stores the outcome.
    private func deliver(rule: AlertRule, sink: AlertSink, failures: Int) async {
        do {
            let waiting = try outbox.waiting(rule: rule.name, sink: sink.name, limit: 10_000)
            guard !waiting.isEmpty else { return }
            let ids = waiting.map(\.id)
            let message = AlertMessage(
                rule: rule.name, sink: sink.name, host: host, events: waiting.map(\.event),
                digest: rule.digest == .always)
            let outcome: Result<String, DeliveryFailure>
            do {
                outcome = .success(try await SinkDriver(sink: sink).deliver(message))
            } catch {
                outcome = .failure(error)
            }
            // Cut short by shutdown: the sink may not have finished; sent again after a restart.
            guard !Task.isCancelled else { return }
            switch outcome {
            case .success(let answer):
                try outbox.sent(ids, rule: rule.name, sink: sink.name, at: Self.now(), answer: answer)
                let said = answer.isEmpty ? "" : ": \(answer)"
                logger.notice("alerts: rule \(rule.name) sent \(ids.count) alert(s) to sink \(sink.name)\(said)")
            case .failure(let error):
                let now = Self.now()
                let retryAt = now + GroupSchedule.retryDelay(failures: failures + 1, sink: sink)
                let dead = try outbox.failed(
                    ids, rule: rule.name, sink: sink.name, at: now, error: error.description,
                    maxAttempts: sink.maxAttempts, retryAt: retryAt)
                logger.warning(
                    "alerts: rule \(rule.name) could not reach sink \(sink.name) (\(error)); trying again in \((retryAt - now) / 1_000_000) s"
                )
                if !dead.isEmpty { gaveUp(dead, rule: rule, sink: sink, error: error) }
            }
        } catch {
            logger.error("alerts: the outbox failed while delivering rule \(rule.name) to sink \(sink.name): \(error)")
        }
    }

    /// Reports alerts given up after their last attempt, and raises `undeliverable-alerts`
    /// (except about alerts of that very condition, which would only pile up the same way).
    private func gaveUp(_ ids: [Int64], rule: AlertRule, sink: AlertSink, error: DeliveryFailure) {
        logger.critical(
            "alerts: gave up \(ids.count) alert(s) of rule \(rule.name) after \(sink.maxAttempts) attempts to sink \(sink.name): \(error)"
        )
        guard !rule.health.contains(.undeliverableAlerts) else { return }
        raise(
            .undeliverableAlerts, key: "\(ids[0])",
            detail:
                "\(ids.count) alert(s) of rule \(rule.name) could not be delivered to sink \(sink.name) after "
                + "\(sink.maxAttempts) attempts; the last error: \(error). See authsignal alerts --state dead.")
    }

    /// Now, in µs since 1970.
    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
}

/// How full a file system is, as `df` counts it (space reserved for root counts as used).
struct DiskUsage {
    let percent: Int
    let availableMiB: Int

    init?(path: String) {
        var info = statvfs()
        guard statvfs(path, &info) == 0, info.f_blocks > 0 else { return nil }
        let used = Double(info.f_blocks - info.f_bfree)
        let available = Double(info.f_bavail)
        guard used + available > 0 else { return nil }
        percent = Int((used / (used + available) * 100).rounded(.up))
        availableMiB = Int(available * Double(info.f_frsize) / 1_048_576)
    }
}
