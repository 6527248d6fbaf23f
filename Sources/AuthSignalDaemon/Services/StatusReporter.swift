import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Logging
import ServiceLifecycle
import Synchronization
import Systemd

/// Every `ReportIntervalSec` until shutdown: the unit's status line, and a warning when the
/// journal lost entries since the last report.
struct StatusReporter: Service {
    let processor: RequestProcessor
    let journal: JournalSink
    let notifier: Notifier
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown {
            var reported = JournalSink.Counters()
            while !Task.isCancelled {
                let interval = processor.runtime.config.reportIntervalSeconds
                try? await Task.sleep(for: .seconds(interval))
                if Task.isCancelled { return }
                reported = report(since: reported, interval: interval)
            }
        }
    }

    private func report(since reported: JournalSink.Counters, interval: Int) -> JournalSink.Counters {
        let counters = journal.counters
        let head = processor.store.chainHead()
        notifier.status(
            "Audit log at record \(head.seq); \(processor.counters.connections) connections; "
                + "journal sent \(counters.sent), behind by \(counters.lag), dropped \(counters.dropped)")
        if counters.dropped > reported.dropped || counters.failed > reported.failed
            || counters.anchorFailures > reported.anchorFailures
        {
            let behind =
                "journal behind: \(counters.lag) records not written yet, \(counters.failed - reported.failed) "
                + "attempts refused and \(counters.anchorFailures - reported.anchorFailures) anchors failed in the "
                + "last \(interval) s; they are sent from the audit log once journald takes entries again"
                + (counters.dropped > reported.dropped
                    ? "; \(counters.dropped - reported.dropped) were pruned from the audit log before that" : "")
            logger.warning(
                "\(behind)",
                metadata: [
                    "lag": "\(counters.lag)", "dropped_total": "\(counters.dropped)",
                    "failed_total": "\(counters.failed)",
                ])
        }
        return counters
    }
}
