package import AuditStore
import AuthSignalCore
package import AuthSignalProtocol
import Foundation

/// The records the daemon writes of its own accord: its lifecycle (start, stop, reload, retention
/// runs) and the account changes it sees in the account files. They take the path an emitted
/// event takes — redacted, sent on the daemon's signals, stored by the next group commit — with
/// sender `authsignald` and the daemon's own process as the peer. No client can send them: `emit`
/// refuses these signals (``AuthSignal/isEmittable``), so a gap in logging, or an account change,
/// cannot be forged or papered over by an emitter.
package struct DaemonRecorder: Sendable {
    let processor: RequestProcessor
    /// Whether lifecycle records are written (`[Store] LifecycleRecords`); account changes are
    /// `[Accounts] Watch`'s to decide.
    let lifecycle: Bool

    /// The sender name of the daemon's own records.
    package static let sender = "authsignald"

    /// A recorder storing through `processor`'s receivers; `lifecycle` as `[Store] LifecycleRecords`.
    package init(processor: RequestProcessor, lifecycle: Bool) {
        self.processor = processor
        self.lifecycle = lifecycle
    }

    /// Records `signal` about `user` with `request`, and waits until it is durable; `nil` for a
    /// lifecycle signal while lifecycle records are off.
    @discardableResult
    package func record(_ signal: AuthSignal, user: String? = nil, request: JSONObject) async -> Result<
        Appended, StoreError
    >? {
        if signal.family == .lifecycle && !lifecycle { return nil }
        // Whole microseconds, as the log and the journal both keep times: the two copies of the
        // record must agree to the digit.
        let now = RFC3339.parse(RFC3339.format(Date()))
        let event = AuthEvent(
            signal: signal, sender: Self.sender, user: user, request: request, credentials: nil, time: now, id: nil)
        let peer = PeerCredentials(uid: getuid(), gid: getgid(), pid: getpid())
        let ticket = processor.receivers.dispatch(processor.runtime.redactor.redact(event, peer: peer))
        return await withCheckedContinuation { continuation in
            ticket.whenComplete { continuation.resume(returning: $0) }
        }
    }
}
