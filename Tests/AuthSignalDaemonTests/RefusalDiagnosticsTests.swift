import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Signals
import SpawnSupport
import Testing

@testable import AuthSignalDaemon

/// The daemon's log of refused requests, in process (``DaemonHarness`` and the daemon's own
/// ``DiagnosticsService``): a client's refusals are rate-limited per uid and summarised, so that
/// audit entries keep the journal's budget; every refusal is still counted (issue 12, items 6
/// and 9).
@Suite("Refusal diagnostics, in process")
struct RefusalDiagnosticsTests {
    @Test func floodOfForbiddenRequestsIsSummarisedAndCounted() async throws {
        let uid: UInt32 = 4244
        let harness = try DaemonHarness {
            $0.emitUsers = []
            $0.emitGroups = []
        }
        let sender = harness.processor.sender
        // A short window, so that the summary comes within the test; the budget is the daemon's.
        let refusals = RefusalLog(window: .seconds(2))
        let diagnostics = Task {
            await DiagnosticsService(sender: sender, logger: harness.logger, refusals: refusals).run()
        }
        try await waitFor("the diagnostics to listen") { gotRequestException.hasListeners(sender: sender) }
        let count = 5_000
        let started = ContinuousClock.now
        let answers = try await harness.exchange(Array(repeating: emitLine(user: "flood"), count: count), uid: uid)
        #expect(answers.filter { errorCode($0) == "forbidden" }.count == count)
        // Every refusal is logged or summarised, and at most `burst` of them one by one in each
        // window the flood lasted (a loaded machine may take more than one).
        let summaryPrefix = " more refused requests from uid \(uid)"
        func summarised() -> Int {
            harness.log.all.split(separator: "\n").filter { $0.contains(summaryPrefix) }.reduce(0) {
                $0 + (Int($1.prefix { $0.isNumber }) ?? 0)
            }
        }
        let logged = { harness.log.count("request rejected: forbidden") }
        try await waitFor("the summaries") { logged() + summarised() == count }
        let windows = Int((ContinuousClock.now - started) / refusals.window) + 1
        #expect(logged() >= refusals.burst && logged() <= refusals.burst * windows, "\(logged()) logged one by one")
        let stats = try await harness.connect().final(#"{"op":"stats"}"#)
        #expect((stats["refused"] as? [String: Any])?["forbidden"] as? Int == count)
        diagnostics.cancel()
        await diagnostics.value
        #expect(!gotRequestException.hasListeners(sender: sender))
        try await harness.close()
    }
}
