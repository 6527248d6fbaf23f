public import AuditStore
public import AuthSignalCore
import Signals

/// The daemon's own receivers, connected in ``ready(journal:)`` (the counterpart of a Django
/// app's `ready()`):
/// - the store receiver on `user_logged_in`, `user_logged_out` and `user_login_failed`: queues the
///   redacted event for group commit and returns its ``AppendTicket``, which completes with the
///   seq that the acknowledgement carries once the record is durable;
/// - the journal receiver on `post_save` from the audit log: it sees each record once it is
///   committed, and only enqueues (never delaying an acknowledgement). The follower broadcast
///   (``FollowerHub``) connects itself to `post_save` while anyone follows.
public final class AuditReceivers: Sendable {
    /// The dispatch UID prefix of every registration of this component.
    public static let uid = "authsignald"

    let store: AuditStore
    let journal: JournalSink?
    let loggedIn: Receiver<UserLoggedIn>
    let loggedOut: Receiver<UserLoggedOut>
    let loginFailed: Receiver<UserLoginFailed>
    private let journalReceiver: Receiver<PostSave>

    /// Creates the receivers; nothing is connected until ``ready(journal:)``.
    public init(store: AuditStore, journal: JournalSink?) {
        self.store = store
        self.journal = journal
        loggedIn = Receiver("authsignald.store") { _, payload -> AppendTicket in store.submit(payload.event) }
        loggedOut = Receiver("authsignald.store") { _, payload -> AppendTicket in store.submit(payload.event) }
        loginFailed = Receiver("authsignald.store") { _, payload -> AppendTicket in store.submit(payload.event) }
        journalReceiver = Receiver("authsignald.journal") { _, payload in
            if let record = payload.instance(as: AuditRecord.self) { journal?.offer(record) }
        }
    }

    /// Connects every receiver; the journal one only when `journal` is true. Idempotent.
    public func ready(journal: Bool) {
        userLoggedIn.connect(loggedIn, weak: false, dispatchUID: "\(Self.uid).store")
        userLoggedOut.connect(loggedOut, weak: false, dispatchUID: "\(Self.uid).store")
        userLoginFailed.connect(loginFailed, weak: false, dispatchUID: "\(Self.uid).store")
        setJournal(enabled: journal)
    }

    /// Connects or disconnects the journal receiver (`[Journal] Enabled`, also on reload).
    public func setJournal(enabled: Bool) {
        if enabled, journal != nil {
            postSave.connect(
                journalReceiver, sender: AuditStore.recordSender, weak: false, dispatchUID: "\(Self.uid).journal")
        } else {
            postSave.disconnect(dispatchUID: "\(Self.uid).journal", sender: AuditStore.recordSender)
        }
    }

    /// Disconnects every receiver.
    public func unready() {
        userLoggedIn.disconnect(dispatchUID: "\(Self.uid).store")
        userLoggedOut.disconnect(dispatchUID: "\(Self.uid).store")
        userLoginFailed.disconnect(dispatchUID: "\(Self.uid).store")
        postSave.disconnect(dispatchUID: "\(Self.uid).journal", sender: AuditStore.recordSender)
    }

    /// Sends the auth signal of `event` with the event's sender, synchronously and so in the order
    /// of the calls, and returns the store receiver's ticket. Other receivers a deployment
    /// connects run too (robustly: their errors are logged and never cost the audit record).
    public func dispatch(_ event: RedactedEvent) -> Result<AppendTicket, ProtocolError> {
        let sender = Sender.named(event.sender)
        switch event.signal {
        case .userLoggedIn:
            return Self.ticket(userLoggedIn.sendRobust(sender: sender, UserLoggedIn(event)), loggedIn)
        case .userLoggedOut:
            return Self.ticket(userLoggedOut.sendRobust(sender: sender, UserLoggedOut(event)), loggedOut)
        case .userLoginFailed:
            return Self.ticket(userLoginFailed.sendRobust(sender: sender, UserLoginFailed(event)), loginFailed)
        }
    }

    private static func ticket<Payload>(
        _ results: RobustResponses<Payload>, _ store: Receiver<Payload>
    ) -> Result<AppendTicket, ProtocolError> {
        guard let result = results.first(where: { $0.receiver === store })?.result else {
            return .failure(ProtocolError(.internal, "the audit store receiver is not connected"))
        }
        guard case .success(let response) = result, let ticket = response as? AppendTicket else {
            return .failure(ProtocolError(.internal, "the audit store receiver failed"))
        }
        return .success(ticket)
    }
}

extension StoreError {
    /// The protocol error for an append that stored nothing.
    var protocolError: ProtocolError {
        ProtocolError(.unavailable, "the audit log cannot store now: \(self)")
    }
}
