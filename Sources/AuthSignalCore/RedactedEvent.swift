package import AuthSignalProtocol
package import Foundation

/// An auth event after redaction: the only event type the audit store, the journal and live
/// followers accept. Nothing outside this module can create one except through ``Redactor``, so a
/// sink cannot be handed an unredacted event by mistake.
package struct RedactedEvent: Sendable, Hashable {
    /// Which auth signal the event is.
    package let signal: AuthSignal
    /// Who reports it.
    package let sender: String
    /// The account; keyed-hashed for a failed login naming no known account.
    package let user: String?
    /// The request, with sensitive values replaced.
    package let request: JSONObject?
    /// The credentials, with sensitive values replaced.
    package let credentials: JSONObject?
    /// When it happened at the source.
    package let time: Date?
    /// The client's idempotency key.
    package let id: String?
    /// Who sent it, as the kernel reported.
    package let peer: PeerCredentials

    /// `request.remote_addr` when it is a string.
    package var remoteAddr: String? { request?["remote_addr"]?.stringValue }

    init(
        signal: AuthSignal, sender: String, user: String?, request: JSONObject?,
        credentials: JSONObject?, time: Date?, id: String?, peer: PeerCredentials
    ) {
        self.signal = signal
        self.sender = sender
        self.user = user
        self.request = request
        self.credentials = credentials
        self.time = time
        self.id = id
        self.peer = peer
    }
}
