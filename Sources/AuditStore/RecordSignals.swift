import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Signals

/// A record the writer stored in the transaction under way: what the model signals carry.
struct SavedRecord: Sendable {
    let seq: Int64
    /// Microseconds since the epoch.
    let received: Int64
    let event: RedactedEvent
    let prevHash: Data
    let hash: Data
    /// What the writer's judge said of it.
    var verdicts: [Verdict] = []

    /// The record as receivers see it.
    var record: AuditRecord {
        AuditRecord(
            event: event, seq: seq, received: Microseconds.date(received), prevHash: prevHash, hash: hash,
            verdicts: verdicts)
    }
}

/// Django's model signals for the records one transaction of the writer stores, sent with the
/// record type as sender: `pre_init` before a record is made, `post_init` and `pre_save` before
/// it is inserted, `post_save` once the transaction has committed.
///
/// Which of the first three have listeners is asked once per transaction: with nobody
/// listening, building records for them costs nothing.
struct RecordSignals {
    /// The audit log's path, sent as Django's `using`.
    let path: String
    private let preInit = AuthSignalCore.preInit.hasListeners(sender: AuditStore.recordSender)
    private let postInit = AuthSignalCore.postInit.hasListeners(sender: AuditStore.recordSender)
    private let preSave = AuthSignalCore.preSave.hasListeners(sender: AuditStore.recordSender)

    init(path: String) { self.path = path }

    /// `pre_init`, before the writer numbers and hashes `event`.
    func willCreate(_ event: RedactedEvent) {
        guard preInit else { return }
        AuthSignalCore.preInit.dispatchRobust(sender: AuditStore.recordSender, PreInit(values: event))
    }

    /// `post_init` and `pre_save`, before `saved` is inserted.
    func willSave(_ saved: SavedRecord) {
        guard postInit || preSave else { return }
        let record = saved.record
        if postInit {
            AuthSignalCore.postInit.dispatchRobust(sender: AuditStore.recordSender, PostInit(instance: record))
        }
        if preSave {
            AuthSignalCore.preSave.dispatchRobust(
                sender: AuditStore.recordSender, PreSave(instance: record, using: path))
        }
    }

    /// `post_save` for each record of a committed transaction, in seq order; asked now, not
    /// when the transaction began, so that a receiver connected meanwhile hears them.
    func didCommit(_ saved: [SavedRecord]) {
        guard postSave.hasListeners(sender: AuditStore.recordSender) else { return }
        for entry in saved {
            postSave.dispatchRobust(
                sender: AuditStore.recordSender, PostSave(instance: entry.record, created: true, using: path))
        }
    }
}
