package import AuditStore
package import AuthSignalCore
import AuthSignalProtocol
package import Signals

/// One daemon's auth signals: `user_logged_in`, `user_logged_out` and `user_login_failed`, with
/// the catalogue's names and payloads, but instances of this daemon's own. Every event the
/// daemon serves is sent on them; the audit store receiver is connected for the signals' whole
/// life, and whatever else connects (a deployment's code, a test) hears this daemon's events
/// only — two daemons in one process never hear each other's.
package struct AuthSignals: Sendable {
    /// Sent for each successful login the daemon serves.
    package let userLoggedIn = Signal<UserLoggedIn>("user_logged_in")
    /// Sent for each logout.
    package let userLoggedOut = Signal<UserLoggedOut>("user_logged_out")
    /// Sent for each failed login.
    package let userLoginFailed = Signal<UserLoginFailed>("user_login_failed")
    /// Sent for each password change, and each failed one (`password_changed`,
    /// `password_change_failed`).
    package let passwordChanged = Signal<RecordedEvent>("password_changed")
    /// Sent for each account added, removed, locked or unlocked and each group membership
    /// changed, as the daemon sees the account files change.
    package let accountChanged = Signal<RecordedEvent>("account_changed")
    /// Sent when the daemon starts, stops, reloads or prunes: its own lifecycle.
    package let lifecycle = Signal<RecordedEvent>("daemon_lifecycle")
}

/// The daemon's own receivers:
/// - the store receiver on each of ``AuthSignals``: queues the redacted event for group commit
///   and returns its ``AppendTicket``, which completes with the seq that the acknowledgement
///   carries once the record is durable. It is connected when the receivers are made, by identity
///   only (no dispatch UID), and never disconnected: nothing outside can remove it, so an event
///   the daemon serves always reaches the store;
/// - the journal receiver on `post_save` from this daemon's audit log (Django's `using`, the log's
///   path, tells its records from another log's): it sees each record once it is committed, and
///   only enqueues (never delaying an acknowledgement). The follower broadcast (``FollowerHub``)
///   connects itself the same way while anyone follows.
package final class AuditReceivers: Sendable {
    /// This daemon's auth signals, for other receivers to connect to.
    package let signals = AuthSignals()
    let store: AuditStore
    let journal: JournalSink?
    private let loggedIn: TypedReceiver<UserLoggedIn, AppendTicket>
    private let loggedOut: TypedReceiver<UserLoggedOut, AppendTicket>
    private let loginFailed: TypedReceiver<UserLoginFailed, AppendTicket>
    private let recorded: TypedReceiver<RecordedEvent, AppendTicket>
    private let journalReceiver: Receiver<PostSave>
    /// The journal receiver's dispatch UID: unique to this log, so that another daemon's is
    /// another registration.
    private let journalUID: String

    /// Creates the receivers with the store receiver connected; the journal one is connected by
    /// ``setJournal(enabled:)``.
    package init(store: AuditStore, journal: JournalSink?) {
        self.store = store
        self.journal = journal
        loggedIn = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        loggedOut = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        loginFailed = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        recorded = TypedReceiver("authsignald.store") { _, payload in store.submit(payload.event) }
        let using = store.path
        journalReceiver = Receiver("authsignald.journal") { _, payload in
            guard payload.using == using, let record = payload.instance(as: AuditRecord.self) else { return }
            journal?.offer(record)
        }
        journalUID = "authsignald.journal:\(using)"
        signals.userLoggedIn.connect(loggedIn.receiver, weak: false)
        signals.userLoggedOut.connect(loggedOut.receiver, weak: false)
        signals.userLoginFailed.connect(loginFailed.receiver, weak: false)
        for signal in [signals.passwordChanged, signals.accountChanged, signals.lifecycle] {
            signal.connect(recorded.receiver, weak: false)
        }
    }

    /// Connects or disconnects the journal receiver (`[Journal] Enabled`, at start and on reload).
    package func setJournal(enabled: Bool) {
        if enabled, journal != nil {
            postSave.connect(journalReceiver, sender: AuditStore.recordSender, weak: false, dispatchUID: journalUID)
        } else {
            postSave.disconnect(dispatchUID: journalUID, sender: AuditStore.recordSender)
        }
    }

    /// Sends the auth signal of `event` with the event's sender, synchronously and so in the order
    /// of the calls, and returns the store receiver's ticket. Other receivers connected to
    /// ``signals`` run too (robustly: their errors are logged and never cost the audit record).
    func dispatch(_ event: RedactedEvent) -> AppendTicket {
        let sender = Sender.named(event.sender)
        let answer: Result<AppendTicket, any Error>? =
            switch event.signal {
            case .userLoggedIn:
                signals.userLoggedIn.dispatchRobust(sender: sender, UserLoggedIn(event), answeredBy: loggedIn)
            case .userLoggedOut:
                signals.userLoggedOut.dispatchRobust(sender: sender, UserLoggedOut(event), answeredBy: loggedOut)
            case .userLoginFailed:
                signals.userLoginFailed.dispatchRobust(sender: sender, UserLoginFailed(event), answeredBy: loginFailed)
            case .passwordChanged, .passwordChangeFailed:
                signals.passwordChanged.dispatchRobust(sender: sender, RecordedEvent(event), answeredBy: recorded)
            case .accountAdded, .accountRemoved, .accountLocked, .accountUnlocked, .groupMembershipChanged:
                signals.accountChanged.dispatchRobust(sender: sender, RecordedEvent(event), answeredBy: recorded)
            case .daemonStarted, .daemonStopped, .configReloaded, .retentionRan:
                signals.lifecycle.dispatchRobust(sender: sender, RecordedEvent(event), answeredBy: recorded)
            }
        // The store receiver hears every sender and cannot be disconnected from outside, and its
        // body does not throw: it always answers. Should that ever change, the event is stored
        // anyway rather than lost.
        guard case .success(let ticket)? = answer else { return store.submit(event) }
        return ticket
    }
}

extension StoreError {
    /// The protocol error for an append that stored nothing.
    var protocolError: ProtocolError {
        ProtocolError(.unavailable, "the audit log cannot store now: \(self)")
    }
}
