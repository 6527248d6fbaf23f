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

/// An auth event as a client reports it: not yet redacted, so it may hold secrets. The daemon
/// redacts it (`[Redaction]` in authsignald.conf) before anything is stored or logged.
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

/// The credentials the kernel reports for a socket peer (SO_PEERCRED).
public struct PeerCredentials: Sendable, Hashable, Codable {
    /// The peer's user id.
    public var uid: UInt32
    /// The peer's group id.
    public var gid: UInt32
    /// The peer's process id.
    public var pid: Int32

    /// Creates peer credentials.
    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}
