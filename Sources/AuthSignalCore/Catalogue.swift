public import Signals

// The built-in signals, with the payloads of their Django namesakes. docs/signals.md ("How
// authsignald uses the signals") lists where authsignald sends each one.

// MARK: - Auth (django.contrib.auth.signals)

/// Sent when a user logs in: for every accepted `user_logged_in` event, with the event's sender.
public let userLoggedIn = Signal<UserLoggedIn>("user_logged_in")

/// Sent when a user logs out: for every accepted `user_logged_out` event, with the event's sender.
public let userLoggedOut = Signal<UserLoggedOut>("user_logged_out")

/// Sent when a login fails: for every accepted `user_login_failed` event, with the event's sender.
public let userLoginFailed = Signal<UserLoginFailed>("user_login_failed")

/// The payload of ``userLoggedIn``: Django's `request` and `user` arguments, read from the
/// redacted event (a receiver of an auth signal can never see a secret).
public struct UserLoggedIn: Sendable, Hashable {
    /// The event, redacted.
    public let event: RedactedEvent
    /// What the source knows of the request (`remote_addr`, `service`, `tty`, …), if anything.
    public var request: JSONObject? { event.request }
    /// The account that logged in.
    public var user: String { event.user ?? "" }

    public init(_ event: RedactedEvent) { self.event = event }
}

/// The payload of ``userLoggedOut``: Django's `request` and `user` (which may be absent).
public struct UserLoggedOut: Sendable, Hashable {
    /// The event, redacted.
    public let event: RedactedEvent
    /// What the source knows of the request, if anything.
    public var request: JSONObject? { event.request }
    /// The account that logged out, when known.
    public var user: String? { event.user }

    public init(_ event: RedactedEvent) { self.event = event }
}

/// The payload of ``userLoginFailed``: Django's `credentials` and `request`.
public struct UserLoginFailed: Sendable, Hashable {
    /// The event, redacted.
    public let event: RedactedEvent
    /// The credentials tried, with sensitive values already redacted.
    public var credentials: JSONObject { event.credentials ?? [:] }
    /// What the source knows of the request, if anything.
    public var request: JSONObject? { event.request }

    public init(_ event: RedactedEvent) { self.event = event }
}

// MARK: - Model (django.db.models.signals)

/// Sent before an audit record is built from an event; the sender is the record's type.
public let preInit = Signal<PreInit>("pre_init", useCaching: true)

/// Sent after an audit record is built; the sender is the record's type.
public let postInit = Signal<PostInit>("post_init", useCaching: true)

/// Sent before an audit record is written, inside its transaction; the sender is the record's type.
public let preSave = Signal<PreSave>("pre_save", useCaching: true)

/// Sent after the transaction holding an audit record has committed; the sender is its type.
public let postSave = Signal<PostSave>("post_save", useCaching: true)

/// Sent before retention pruning deletes an audit record; the sender is the record's type.
public let preDelete = Signal<ModelDeletion>("pre_delete", useCaching: true)

/// Sent after retention pruning has deleted an audit record; the sender is the record's type.
public let postDelete = Signal<ModelDeletion>("post_delete", useCaching: true)

/// The payload of ``preInit``: what the instance is about to be built from (Django's `args` and
/// `kwargs`).
public struct PreInit: Sendable {
    /// The values the instance is built from.
    public var values: any Sendable

    public init(values: any Sendable) { self.values = values }
}

/// The payload of ``postInit``: the instance just built.
public struct PostInit: Sendable {
    /// The new instance.
    public var instance: any Sendable

    public init(instance: any Sendable) { self.instance = instance }
}

/// The payload of ``preSave``: Django's `instance`, `raw`, `using` and `update_fields`.
public struct PreSave: Sendable {
    /// The instance about to be saved.
    public var instance: any Sendable
    /// Whether the instance is saved exactly as given (as when loading fixtures).
    public var raw: Bool
    /// The database the instance is saved to: the audit log's path.
    public var using: String
    /// The fields being updated; `nil` for all of them.
    public var updateFields: Set<String>?

    public init(instance: any Sendable, raw: Bool = false, using: String, updateFields: Set<String>? = nil) {
        self.instance = instance
        self.raw = raw
        self.using = using
        self.updateFields = updateFields
    }
}

/// The payload of ``postSave``: Django's `instance`, `created`, `raw`, `using`, `update_fields`.
public struct PostSave: Sendable {
    /// The instance saved, carrying its new sequence number.
    public var instance: any Sendable
    /// Whether a new record was created (`false` for an update).
    public var created: Bool
    /// Whether the instance was saved exactly as given.
    public var raw: Bool
    /// The database the instance was saved to: the audit log's path.
    public var using: String
    /// The fields updated; `nil` for all of them.
    public var updateFields: Set<String>?

    public init(
        instance: any Sendable, created: Bool, raw: Bool = false, using: String,
        updateFields: Set<String>? = nil
    ) {
        self.instance = instance
        self.created = created
        self.raw = raw
        self.using = using
        self.updateFields = updateFields
    }
}

/// The payload of ``preDelete`` and ``postDelete``: Django's `instance`, `using` and `origin`.
public struct ModelDeletion: Sendable {
    /// The instance deleted.
    public var instance: any Sendable
    /// The database it is deleted from: the audit log's path.
    public var using: String
    /// What started the deletion, such as `"retention"`.
    public var origin: String

    public init(instance: any Sendable, using: String, origin: String) {
        self.instance = instance
        self.using = using
        self.origin = origin
    }
}

extension PostInit {
    /// The instance as `type`, if it is one.
    public func instance<T>(as type: T.Type) -> T? { instance as? T }
}

extension PreSave {
    /// The instance as `type`, if it is one.
    public func instance<T>(as type: T.Type) -> T? { instance as? T }
}

extension PostSave {
    /// The instance as `type`, if it is one.
    public func instance<T>(as type: T.Type) -> T? { instance as? T }
}

extension ModelDeletion {
    /// The instance as `type`, if it is one.
    public func instance<T>(as type: T.Type) -> T? { instance as? T }
}

// MARK: - Management (django.db.models.signals)

/// Sent before the audit log's schema migrations run at start-up; the sender is the store.
public let preMigrate = Signal<Migration>("pre_migrate")

/// Sent after the audit log's schema migrations have run at start-up; the sender is the store.
public let postMigrate = Signal<Migration>("post_migrate")

/// The payload of ``preMigrate`` and ``postMigrate``: Django's `using` and `plan`.
public struct Migration: Sendable, Hashable {
    /// The database migrated: the audit log's path.
    public var using: String
    /// The migrations about to be applied (pre) or just applied (post), in order.
    public var plan: [String]

    public init(using: String, plan: [String]) {
        self.using = using
        self.plan = plan
    }
}

// MARK: - Request (django.core.signals)

/// Sent when the daemon starts handling a protocol request.
public let requestStarted = Signal<RequestStarted>("request_started")

/// Sent when the daemon has answered a protocol request.
public let requestFinished = Signal<RequestFinished>("request_finished")

/// Sent when a protocol request is rejected or fails.
public let gotRequestException = Signal<GotRequestException>("got_request_exception")

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

/// One protocol request on one connection.
public struct RequestContext: Sendable, Hashable {
    /// The connection's number, unique while the daemon runs.
    public var connection: UInt64
    /// The request's operation (`emit`, `query`, …), once it has been decoded.
    public var op: String?
    /// Who is on the other end of the connection.
    public var peer: PeerCredentials

    /// Creates a request context.
    public init(connection: UInt64, op: String?, peer: PeerCredentials) {
        self.connection = connection
        self.op = op
        self.peer = peer
    }
}

/// The payload of ``requestStarted`` (Django's `environ`: here, the request's context).
public struct RequestStarted: Sendable, Hashable {
    /// The request.
    public var request: RequestContext

    public init(request: RequestContext) { self.request = request }
}

/// The payload of ``requestFinished``.
public struct RequestFinished: Sendable, Hashable {
    /// The request.
    public var request: RequestContext
    /// Whether the final answer was `"ok": true`.
    public var ok: Bool

    public init(request: RequestContext, ok: Bool) {
        self.request = request
        self.ok = ok
    }
}

/// The payload of ``gotRequestException``: Django's `request`, and the error itself.
public struct GotRequestException: Sendable {
    /// The request, when it got far enough to have one.
    public var request: RequestContext?
    /// Why it was rejected or failed.
    public var error: any Error

    public init(request: RequestContext?, error: any Error) {
        self.request = request
        self.error = error
    }
}

// MARK: - Test (django.test.signals)

/// Sent for each configuration key changed by a reload (SIGHUP).
public let settingChanged = Signal<SettingChanged>("setting_changed")

/// The payload of ``settingChanged``: Django's `setting`, `value` and `enter`.
public struct SettingChanged: Sendable, Hashable {
    /// The key, as `Section.Key` (for example `Redaction.Mode`).
    public var setting: String
    /// The new value; `nil` when the key was removed.
    public var value: String?
    /// `true` when the value is applied, `false` when a previous value is restored.
    public var enter: Bool

    public init(setting: String, value: String?, enter: Bool) {
        self.setting = setting
        self.value = value
        self.enter = enter
    }
}

// MARK: - Database (django.db.backends.signals)

/// Sent for each SQLite connection opened, before it is used; receivers may set PRAGMAs.
public let connectionCreated = Signal<ConnectionCreated>("connection_created")

/// A database connection handed to ``connectionCreated`` receivers, valid during the call.
public protocol DatabaseConnection: Sendable {
    /// Runs SQL statements on the connection, such as `PRAGMA cache_size = -8000`.
    func execute(_ sql: String) throws
}

/// The payload of ``connectionCreated``: Django's `connection`.
public struct ConnectionCreated: Sendable {
    /// The database engine, `"sqlite"`.
    public var vendor: String
    /// The database file.
    public var path: String
    /// Whether this is the store's one writing connection.
    public var isWriter: Bool
    /// The connection itself.
    public var connection: any DatabaseConnection

    public init(vendor: String = "sqlite", path: String, isWriter: Bool, connection: any DatabaseConnection) {
        self.vendor = vendor
        self.path = path
        self.isWriter = isWriter
        self.connection = connection
    }
}
