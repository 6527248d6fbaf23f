import AuditStore
import Logging
import ServiceLifecycle
import Systemd

/// Owns the audit log while the daemon runs: its writer's progress counts in the watchdog's
/// health, and at shutdown (after every connection has been answered) the journal receiver is
/// disconnected and the log is closed cleanly.
struct AuditLogService: Service {
    let store: AuditStore
    let receivers: AuditReceivers
    let health: WatchdogHealth
    let logger: Logger

    func run() async throws {
        health.register("audit log writer") { [store] allowed in
            guard let stall = store.writerStall, stall > allowed else { return nil }
            return "no transaction finished for \(stall)"
        }
        try? await gracefulShutdown()
        health.unregister("audit log writer")
        receivers.setJournal(enabled: false)
        try await store.close()
        logger.notice("authsignald stopped: audit log closed at record \(store.chainHead().seq)")
    }
}
