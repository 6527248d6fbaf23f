import AuditStore
import AuthSignalProtocol
import Logging
import ServiceLifecycle

/// Applies retention (`[Store] MaxAgeDays`, `MaxRecords`) at start and every ``interval`` until
/// shutdown.
struct RetentionService: Service {
    let store: AuditStore
    let recorder: DaemonRecorder
    let logger: Logger

    static let interval = Duration.seconds(600)

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let result = try await store.prune()
                    if result.deleted > 0 {
                        logger.info("retention pruned \(result.deleted) records")
                        // The run is itself a record: what was removed, and from where the log
                        // now starts (PCI DSS 10.2.1.6: audit logs' deletion is logged).
                        let oldest = try await store.stats().firstSeq
                        var request: JSONObject = ["removed": .int(Int64(result.deleted))]
                        if let oldest { request["oldest_seq"] = .int(oldest) }
                        await recorder.record(.retentionRan, request: request)
                    }
                } catch {
                    logger.error("retention failed: \(error)")
                }
                try? await Task.sleep(for: Self.interval)
            }
        }
    }
}
