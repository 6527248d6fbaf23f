package import AuditStore
package import AuthSignalCore
import Signals

/// The daemon's own receivers, connected in ``ready(journal:)`` (the counterpart of a Django
/// app's `ready()`):
/// - the store receiver on `user_logged_in`, `user_logged_out` and `user_login_failed`: queues the
///   redacted event for group commit and returns its ``AppendTicket``, which completes with the
///   seq that the acknowledgement carries once the record is durable;
/// - the journal receiver on `post_save` from the audit log: it sees each record once it is
///   committed, and only enqueues (never delaying an acknowledgement). The follower broadcast
///   (``FollowerHub``) connects itself to `post_save` while anyone follows.
package final class AuditReceivers: Sendable {
    /// The dispatch UID prefix of every registration of this component.
    package static let uid = "authsignald"

    let store: AuditStore
    let journal: JournalSink?
    let loggedIn: TypedReceiver<UserLoggedIn, AppendTicket>
    let loggedOut: TypedReceiver<UserLoggedOut, AppendTicket>
    let loginFailed: TypedReceiver<UserLoginFailed, AppendTicket>
    private let journalReceiver: Receiver<PostSave>

    /// Creates the receivers; nothing is connected until ``ready(journal:)``.
    package init(store: AuditStore, journal: JournalSink?) {
        self.store = store
        self.journal = journal
        loggedIn = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        loggedOut = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        loginFailed = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        journalReceiver = Receiver("authsignald.journal") { _, payload in
            if let record = payload.instance(as: AuditRecord.self) { journal?.offer(record) }
        }
    }

    /// Connects every receiver; the journal one only when `journal` is true. Idempotent.
    package func ready(journal: Bool) {
        userLoggedIn.connect(loggedIn.receiver, weak: false, dispatchUID: "\(Self.uid).store")
        userLoggedOut.connect(loggedOut.receiver, weak: false, dispatchUID: "\(Self.uid).store")
        userLoginFailed.connect(loginFailed.receiver, weak: false, dispatchUID: "\(Self.uid).store")
        setJournal(enabled: journal)
    }

    /// Connects or disconnects the journal receiver (`[Journal] Enabled`, also on reload).
    package func setJournal(enabled: Bool) {
        if enabled, journal != nil {
            postSave.connect(
                journalReceiver, sender: AuditStore.recordSender, weak: false, dispatchUID: "\(Self.uid).journal")
        } else {
            postSave.disconnect(dispatchUID: "\(Self.uid).journal", sender: AuditStore.recordSender)
        }
    }

    /// Disconnects every receiver.
    package func unready() {
        userLoggedIn.disconnect(dispatchUID: "\(Self.uid).store")
        userLoggedOut.disconnect(dispatchUID: "\(Self.uid).store")
        userLoginFailed.disconnect(dispatchUID: "\(Self.uid).store")
        postSave.disconnect(dispatchUID: "\(Self.uid).journal", sender: AuditStore.recordSender)
    }

    /// Sends the auth signal of `event` with the event's sender, synchronously and so in the order
    /// of the calls, and returns the store receiver's ticket. Other receivers a deployment
    /// connects run too (robustly: their errors are logged and never cost the audit record).
    ///
    /// The store receiver is connected from ``ready(journal:)`` to ``unready()``; an event sent
    /// outside that (or after a deployment's code disconnected it) is refused, never dropped.
    package func dispatch(_ event: RedactedEvent) -> Result<AppendTicket, ProtocolError> {
        let sender = Sender.named(event.sender)
        let answer: Result<AppendTicket, any Error>? =
            switch event.signal {
            case .userLoggedIn:
                userLoggedIn.sendRobust(sender: sender, UserLoggedIn(event), answeredBy: loggedIn).answer
            case .userLoggedOut:
                userLoggedOut.sendRobust(sender: sender, UserLoggedOut(event), answeredBy: loggedOut).answer
            case .userLoginFailed:
                userLoginFailed.sendRobust(sender: sender, UserLoginFailed(event), answeredBy: loginFailed).answer
            }
        switch answer {
        case .success(let ticket): return .success(ticket)
        case .failure: return .failure(ProtocolError(.internal, "the audit store receiver failed"))
        case nil: return .failure(ProtocolError(.internal, "the audit store receiver is not connected"))
        }
    }
}

extension StoreError {
    /// The protocol error for an append that stored nothing.
    var protocolError: ProtocolError {
        ProtocolError(.unavailable, "the audit log cannot store now: \(self)")
    }
}
