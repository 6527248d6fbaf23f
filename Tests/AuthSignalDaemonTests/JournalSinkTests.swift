import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Testing

@testable import AuthSignalDaemon

/// The journal sink against the real journald, in process: ``JournalSink/run()`` owns the sending
/// thread, and stopping it neither blocks the caller nor loses what was queued.
@Suite("Journal sink, in process")
struct JournalSinkTests {
    @Test func runSendsWhatWasOfferedAndEndsAfterStopWithTheFinalAnchor() async throws {
        let harness = try DaemonHarness()
        let answers = try await harness.exchange((0..<3).map { Answer.emit("journal-sink-\($0)") })
        #expect(try Answer.seqs(answers) == [1, 2, 3])
        let records = try await harness.records()
        var settings = JournalSink.Settings(DaemonConfig(), trusted: .rootOnly)
        settings.anchorEveryRecords = 1000
        let store = harness.store
        let sink = JournalSink(settings: settings, logID: store.logID) { after, limit in
            try store.records(after: after, limit: limit)
        }
        // Offered before the thread runs: queued, not lost.
        for record in records { sink.offer(record) }
        let running = Task { await sink.run() }
        sink.stop()
        await running.value
        let counters = sink.counters
        #expect(counters.sent == 3 && counters.failed == 0)
        #expect(counters.anchors == 1 && counters.lag == 0)
        try await harness.close()
    }
}
