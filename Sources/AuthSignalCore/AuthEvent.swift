public import Foundation

/// The three auth signals an event can carry, by their wire names.
public enum AuthSignal: String, Sendable, Hashable, CaseIterable, Codable {
    case userLoggedIn = "user_logged_in"
    case userLoggedOut = "user_logged_out"
    case userLoginFailed = "user_login_failed"

    /// The short name the CLI accepts: `login`, `logout`, `failed`.
    public var shortName: String {
        switch self {
        case .userLoggedIn: "login"
        case .userLoggedOut: "logout"
        case .userLoginFailed: "failed"
        }
    }

    /// Parses a wire name or a short name.
    public init?(name: String) {
        if let signal = AuthSignal(rawValue: name) {
            self = signal
        } else if let signal = AuthSignal.allCases.first(where: { $0.shortName == name }) {
            self = signal
        } else {
            return nil
        }
    }
}

/// An auth event as a client reported it: not yet redacted, so it may hold secrets. Only the
/// ``Redactor`` turns it into something that may be stored or logged (``RedactedEvent``).
public struct AuthEvent: Sendable, Hashable {
    /// Which auth signal the event is.
    public var signal: AuthSignal
    /// Who reports it, such as `sshd`.
    public var sender: String
    /// The account, when given.
    public var user: String?
    /// What the source knows of the request (`remote_addr`, `service`, `tty`, …).
    public var request: JSONObject?
    /// The credentials tried; may hold secrets.
    public var credentials: JSONObject?
    /// When it happened at the source.
    public var time: Date?
    /// The client's idempotency key.
    public var id: String?

    /// Creates an event.
    public init(
        signal: AuthSignal, sender: String, user: String? = nil, request: JSONObject? = nil,
        credentials: JSONObject? = nil, time: Date? = nil, id: String? = nil
    ) {
        self.signal = signal
        self.sender = sender
        self.user = user
        self.request = request
        self.credentials = credentials
        self.time = time
        self.id = id
    }
}

/// An auth event after redaction: the only event type the audit store, the journal and live
/// followers accept. Nothing outside this module can create one except through ``Redactor``, so a
/// sink cannot be handed an unredacted event by mistake.
public struct RedactedEvent: Sendable, Hashable {
    /// Which auth signal the event is.
    public let signal: AuthSignal
    /// Who reports it.
    public let sender: String
    /// The account; keyed-hashed for a failed login naming no known account.
    public let user: String?
    /// The request, with sensitive values replaced.
    public let request: JSONObject?
    /// The credentials, with sensitive values replaced.
    public let credentials: JSONObject?
    /// When it happened at the source.
    public let time: Date?
    /// The client's idempotency key.
    public let id: String?
    /// Who sent it, as the kernel reported.
    public let peer: PeerCredentials

    /// `request.remote_addr` when it is a string.
    public var remoteAddr: String? { request?["remote_addr"]?.stringValue }

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
