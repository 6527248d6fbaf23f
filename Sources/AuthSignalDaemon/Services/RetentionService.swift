import AuditStore
import Logging
import ServiceLifecycle

/// Applies retention (`[Store] MaxAgeDays`, `MaxRecords`) at start and every ``interval`` until
/// shutdown.
struct RetentionService: Service {
    let store: AuditStore
    let logger: Logger

    static let interval = Duration.seconds(600)

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let result = try await store.prune()
                    if result.deleted > 0 { logger.info("retention pruned \(result.deleted) records") }
                } catch {
                    logger.error("retention failed: \(error)")
                }
                try? await Task.sleep(for: Self.interval)
            }
        }
    }
}
