public import Foundation

/// The signals a record can carry, by their wire names: the three auth signals, the credential
/// and account changes, and the daemon's own lifecycle (docs/signals.md lists each with its
/// request members).
public enum AuthSignal: String, Sendable, Hashable, CaseIterable, Codable {
    case userLoggedIn = "user_logged_in"
    case userLoggedOut = "user_logged_out"
    case userLoginFailed = "user_login_failed"
    /// An account's password was changed through PAM's password stack (never the password).
    case passwordChanged = "password_changed"
    /// A password change through PAM's password stack failed.
    case passwordChangeFailed = "password_change_failed"
    /// An account appeared in the passwd file.
    case accountAdded = "account_added"
    /// An account left the passwd file.
    case accountRemoved = "account_removed"
    /// An account's password was locked in the shadow file (`passwd -l`, `usermod -L`).
    case accountLocked = "account_locked"
    /// An account's password was unlocked.
    case accountUnlocked = "account_unlocked"
    /// An account joined or left a group (`request.change`: `added` or `removed`).
    case groupMembershipChanged = "group_membership_changed"
    /// authsignald started: logging resumes here.
    case daemonStarted = "daemon_started"
    /// authsignald stopped: nothing is logged until the next `daemon_started`.
    case daemonStopped = "daemon_stopped"
    /// authsignald reloaded its configuration.
    case configReloaded = "config_reloaded"
    /// A retention run removed old records.
    case retentionRan = "retention_ran"

    /// What a signal is about.
    public enum Family: String, Sendable, CaseIterable {
        /// Logins, logouts, failed logins.
        case authentication
        /// Password changes.
        case credential
        /// Accounts and group memberships, as the account files change.
        case account
        /// The daemon's own start, stop, reload and retention runs.
        case lifecycle
    }

    /// The signal's family.
    public var family: Family {
        switch self {
        case .userLoggedIn, .userLoggedOut, .userLoginFailed: .authentication
        case .passwordChanged, .passwordChangeFailed: .credential
        case .accountAdded, .accountRemoved, .accountLocked, .accountUnlocked, .groupMembershipChanged: .account
        case .daemonStarted, .daemonStopped, .configReloaded, .retentionRan: .lifecycle
        }
    }

    /// Whether a client may send it (`emit`): the auth and credential signals. The account and
    /// lifecycle records are the daemon's own, so that no emitter can forge one.
    public var isEmittable: Bool { family == .authentication || family == .credential }

    /// The short name the CLI accepts: `login`, `logout`, `failed`, `password`, …
    public var shortName: String {
        switch self {
        case .userLoggedIn: "login"
        case .userLoggedOut: "logout"
        case .userLoginFailed: "failed"
        case .passwordChanged: "password"
        case .passwordChangeFailed: "password-failed"
        case .accountAdded: "account-added"
        case .accountRemoved: "account-removed"
        case .accountLocked: "locked"
        case .accountUnlocked: "unlocked"
        case .groupMembershipChanged: "group"
        case .daemonStarted: "start"
        case .daemonStopped: "stop"
        case .configReloaded: "reload"
        case .retentionRan: "retention"
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
