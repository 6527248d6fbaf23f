import AuditStore
import AuthSignalProtocol
import Foundation
import Logging
import ServiceLifecycle
import Systemd

/// Owns the audit log while the daemon runs: its writer's progress counts in the watchdog's
/// health; the log records the daemon's start (`daemon_started`) and, at shutdown, after every
/// connection has been answered, its stop (`daemon_stopped`, durable before the log closes), so a
/// gap in logging shows in the log itself. Then the journal receiver is disconnected and the log
/// is closed cleanly.
struct AuditLogService: Service {
    let store: AuditStore
    let receivers: AuditReceivers
    let recorder: DaemonRecorder
    let health: WatchdogHealth
    /// The program's version, recorded in the start record.
    let release: String
    let logger: Logger

    func run() async throws {
        health.register("audit log writer") { [store] allowed in
            guard let stall = store.writerStall, stall > allowed else { return nil }
            return "no transaction finished for \(stall)"
        }
        let identity: JSONObject = [
            "version": .string(release), "pid": .int(Int64(getpid())),
        ]
        if case .failure(let error)? = await recorder.record(.daemonStarted, request: identity) {
            logger.error("the daemon's start could not be recorded: \(error)")
        }
        try? await gracefulShutdown()
        if case .failure(let error)? = await recorder.record(.daemonStopped, request: identity) {
            logger.error("the daemon's stop could not be recorded: \(error)")
        }
        health.unregister("audit log writer")
        receivers.setJournal(enabled: false)
        try await store.close()
        logger.notice("authsignald stopped: audit log closed at record \(store.chainHead().seq)")
    }
}
