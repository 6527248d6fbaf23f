import AuditJournal
package import AuditStore
package import AuthSignalCore
import Foundation
import Synchronization
package import Systemd

/// Writes committed records to the journal off the acknowledgement path.
///
/// ``offer(_:)`` only enqueues (it runs on the store's writer thread right after a commit); a
/// dedicated thread sends the entries. The queue is bounded: when journald is slow or gone the
/// oldest waiting entries are kept, new ones are dropped and counted, and the SQLite record (the
/// system of record) is never delayed. The thread also anchors the chain head in the journal every
/// `AnchorEveryRecords` records or `AnchorIntervalSec` seconds.
package final class JournalSink: Sendable {
    /// What the journal got and did not get since start.
    package struct Counters: Sendable, Hashable {
        /// Entries journald accepted.
        package var sent = 0
        /// Entries dropped because the queue was full.
        package var dropped = 0
        /// Entries journald did not accept (absent or refusing).
        package var failed = 0
        /// Chain anchors written.
        package var anchors = 0
        /// Chain anchors that could not be written.
        package var anchorFailures = 0
        /// Entries waiting now.
        package var queued = 0
    }

    /// Timing and capacity.
    package struct Settings: Sendable, Hashable {
        /// The most entries waiting.
        package var capacity: Int
        /// Anchor after this many records…
        package var anchorEveryRecords: Int
        /// …or this long after the first record not anchored.
        package var anchorInterval: Duration
        /// The senders whose records are written as trusted.
        package var trusted: TrustedSenders

        /// Settings from the daemon's configuration.
        package init(_ config: DaemonConfig) {
            capacity = config.journalQueueCapacity
            anchorEveryRecords = config.anchorEveryRecords
            anchorInterval = .seconds(config.anchorIntervalSeconds)
            trusted = TrustedSenders(config)
        }
    }

    private struct State: ~Copyable {
        var queue: [AuditRecord] = []
        var head = 0
        var counters = Counters()
        var settings: Settings
        var stopping = false
        var lastAnchored: Int64 = 0
        var unanchoredSince: ContinuousClock.Instant?
        var latest: (seq: Int64, hash: Data)?

        var count: Int { queue.count - head }
    }

    private let state: Mutex<State>
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let writer: JournalWriter
    private let logID: String

    /// Starts the sending thread.
    /// - Parameters:
    ///   - logID: the audit log's identity, written into every anchor.
    package init(settings: Settings, logID: String, writer: JournalWriter = JournalWriter()) {
        state = Mutex(State(settings: settings))
        self.writer = writer
        self.logID = logID
        let thread = Thread { [self] in run() }
        thread.name = "authsignald.journal"
        thread.start()
    }

    /// Applies new settings (a reload).
    package func update(_ settings: Settings) {
        state.withLock { $0.settings = settings }
    }

    /// The counters now.
    package var counters: Counters {
        state.withLock { state in
            var counters = state.counters
            counters.queued = state.count
            return counters
        }
    }

    /// Enqueues `record`, or counts it dropped when the queue is full. Never blocks.
    package func offer(_ record: AuditRecord) {
        let wasEmpty = state.withLock { state -> Bool? in
            guard !state.stopping else { return nil }
            guard state.count < state.settings.capacity else {
                state.counters.dropped += 1
                return nil
            }
            state.queue.append(record)
            return state.count == 1
        }
        if wasEmpty == true { wakeup.signal() }
    }

    /// Sends what is queued (waiting at most `timeout`), anchors the final chain head, and stops.
    package func stop(timeout: Duration = .seconds(5)) {
        state.withLock { $0.stopping = true }
        wakeup.signal()
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        _ = finished.wait(timeout: .now() + seconds)
    }

    private func run() {
        while true {
            let (batch, stopping, anchor, trusted) = state.withLock {
                state -> ([AuditRecord], Bool, (Int64, Data)?, TrustedSenders) in
                let batch = Array(state.queue[state.head...].prefix(256))
                state.head += batch.count
                if state.head == state.queue.count {
                    state.queue.removeAll(keepingCapacity: state.queue.capacity <= 4096)
                    state.head = 0
                } else if state.head > 65536 {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
                if let last = batch.last {
                    state.latest = (last.seq, last.hash)
                    if state.unanchoredSince == nil { state.unanchoredSince = .now }
                }
                var anchor: (Int64, Data)?
                if let latest = state.latest, latest.seq > state.lastAnchored {
                    let due =
                        latest.seq - state.lastAnchored >= Int64(state.settings.anchorEveryRecords)
                        || (state.unanchoredSince.map { ContinuousClock.now - $0 >= state.settings.anchorInterval }
                            ?? false)
                    if due || (state.stopping && state.count == 0) {
                        anchor = latest
                        state.lastAnchored = latest.seq
                        state.unanchoredSince = nil
                    }
                }
                return (batch, state.stopping, anchor, state.settings.trusted)
            }
            var sent = 0
            var failed = 0
            for record in batch {
                do {
                    try writer.send(AuditJournal.entry(for: record, trustedSender: trusted.trusts(record.peer.uid)))
                    sent += 1
                } catch {
                    failed += 1
                }
            }
            var anchored: Bool?
            if let (seq, hash) = anchor {
                anchored =
                    (try? writer.send(AuditJournal.anchorEntry(seq: seq, hash: Array(hash), logID: logID))) != nil
            }
            let remaining = state.withLock { state in
                state.counters.sent += sent
                state.counters.failed += failed
                if let anchored {
                    if anchored { state.counters.anchors += 1 } else { state.counters.anchorFailures += 1 }
                }
                return state.count
            }
            if stopping && remaining == 0 && batch.isEmpty {
                finished.signal()
                return
            }
            if remaining == 0 && batch.isEmpty {
                _ = wakeup.wait(timeout: .now() + 1)
            }
        }
    }
}
