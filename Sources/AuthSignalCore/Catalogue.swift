package import AuthSignalProtocol
package import Signals

// The built-in signals, with the payloads of their Django namesakes. docs/signals.md ("How
// authsignald uses the signals") lists where authsignald sends each one.

// MARK: - Auth (django.contrib.auth.signals)

/// Sent when a user logs in: for every accepted `user_logged_in` event, with the event's sender.
package let userLoggedIn = Signal<UserLoggedIn>("user_logged_in")

/// Sent when a user logs out: for every accepted `user_logged_out` event, with the event's sender.
package let userLoggedOut = Signal<UserLoggedOut>("user_logged_out")

/// Sent when a login fails: for every accepted `user_login_failed` event, with the event's sender.
package let userLoginFailed = Signal<UserLoginFailed>("user_login_failed")

/// The payload of ``userLoggedIn``: Django's `request` and `user` arguments, read from the
/// redacted event (a receiver of an auth signal can never see a secret).
package struct UserLoggedIn: Sendable, Hashable {
    /// The event, redacted.
    package let event: RedactedEvent
    /// What the source knows of the request (`remote_addr`, `service`, `tty`, …), if anything.
    package var request: JSONObject? { event.request }
    /// The account that logged in.
    package var user: String { event.user ?? "" }

    package init(_ event: RedactedEvent) { self.event = event }
}

/// The payload of ``userLoggedOut``: Django's `request` and `user` (which may be absent).
package struct UserLoggedOut: Sendable, Hashable {
    /// The event, redacted.
    package let event: RedactedEvent
    /// What the source knows of the request, if anything.
    package var request: JSONObject? { event.request }
    /// The account that logged out, when known.
    package var user: String? { event.user }

    package init(_ event: RedactedEvent) { self.event = event }
}

/// The payload of ``userLoginFailed``: Django's `credentials` and `request`.
package struct UserLoginFailed: Sendable, Hashable {
    /// The event, redacted.
    package let event: RedactedEvent
    /// The credentials tried, with sensitive values already redacted.
    package var credentials: JSONObject { event.credentials ?? [:] }
    /// What the source knows of the request, if anything.
    package var request: JSONObject? { event.request }

    package init(_ event: RedactedEvent) { self.event = event }
}

// MARK: - Credentials, accounts, the daemon (authsignal's own, beside Django's auth signals)

/// The payload of the signals that carry a whole event and nothing Django defines: password
/// changes, account changes, the daemon's lifecycle (docs/signals.md).
package struct RecordedEvent: Sendable, Hashable {
    /// The event, redacted.
    package let event: RedactedEvent
    /// The account it concerns, when any.
    package var user: String? { event.user }
    /// What the event says beyond the account (`group`, `change`, `uid`, `version`, …).
    package var request: JSONObject? { event.request }

    package init(_ event: RedactedEvent) { self.event = event }
}

// MARK: - Model (django.db.models.signals)

/// Sent before an audit record is built from an event; the sender is the record's type.
package let preInit = Signal<PreInit>("pre_init", useCaching: true)

/// Sent after an audit record is built; the sender is the record's type.
package let postInit = Signal<PostInit>("post_init", useCaching: true)

/// Sent before an audit record is written, inside its transaction; the sender is the record's type.
package let preSave = Signal<PreSave>("pre_save", useCaching: true)

/// Sent after the transaction holding an audit record has committed; the sender is its type.
package let postSave = Signal<PostSave>("post_save", useCaching: true)

/// Sent before retention pruning deletes an audit record; the sender is the record's type.
package let preDelete = Signal<ModelDeletion>("pre_delete", useCaching: true)

/// Sent after retention pruning has deleted an audit record; the sender is the record's type.
package let postDelete = Signal<ModelDeletion>("post_delete", useCaching: true)

/// The payload of ``preInit``: what the instance is about to be built from (Django's `args` and
/// `kwargs`).
package struct PreInit: Sendable {
    /// The values the instance is built from.
    package var values: any Sendable

    package init(values: any Sendable) { self.values = values }
}

/// The payload of ``postInit``: the instance just built.
package struct PostInit: Sendable {
    /// The new instance.
    package var instance: any Sendable

    package init(instance: any Sendable) { self.instance = instance }
}

/// The payload of ``preSave``: Django's `instance`, `raw`, `using` and `update_fields`.
package struct PreSave: Sendable {
    /// The instance about to be saved.
    package var instance: any Sendable
    /// Whether the instance is saved exactly as given (as when loading fixtures).
    package var raw: Bool
    /// The database the instance is saved to: the audit log's path.
    package var using: String
    /// The fields being updated; `nil` for all of them.
    package var updateFields: Set<String>?

    package init(instance: any Sendable, raw: Bool = false, using: String, updateFields: Set<String>? = nil) {
        self.instance = instance
        self.raw = raw
        self.using = using
        self.updateFields = updateFields
    }
}

/// The payload of ``postSave``: Django's `instance`, `created`, `raw`, `using`, `update_fields`.
package struct PostSave: Sendable {
    /// The instance saved, carrying its new sequence number.
    package var instance: any Sendable
    /// Whether a new record was created (`false` for an update).
    package var created: Bool
    /// Whether the instance was saved exactly as given.
    package var raw: Bool
    /// The database the instance was saved to: the audit log's path.
    package var using: String
    /// The fields updated; `nil` for all of them.
    package var updateFields: Set<String>?

    package init(
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
package struct ModelDeletion: Sendable {
    /// The instance deleted.
    package var instance: any Sendable
    /// The database it is deleted from: the audit log's path.
    package var using: String
    /// What started the deletion, such as `"retention"`.
    package var origin: String

    package init(instance: any Sendable, using: String, origin: String) {
        self.instance = instance
        self.using = using
        self.origin = origin
    }
}

extension PostInit {
    /// The instance as `type`, if it is one.
    package func instance<T>(as type: T.Type) -> T? { instance as? T }
}

extension PreSave {
    /// The instance as `type`, if it is one.
    package func instance<T>(as type: T.Type) -> T? { instance as? T }
}

extension PostSave {
    /// The instance as `type`, if it is one.
    package func instance<T>(as type: T.Type) -> T? { instance as? T }
}

extension ModelDeletion {
    /// The instance as `type`, if it is one.
    package func instance<T>(as type: T.Type) -> T? { instance as? T }
}

// MARK: - Management (django.db.models.signals)

/// Sent before the audit log's schema migrations run at start-up; the sender is the store.
package let preMigrate = Signal<Migration>("pre_migrate")

/// Sent after the audit log's schema migrations have run at start-up; the sender is the store.
package let postMigrate = Signal<Migration>("post_migrate")

/// The payload of ``preMigrate`` and ``postMigrate``: Django's `using` and `plan`.
package struct Migration: Sendable, Hashable {
    /// The database migrated: the audit log's path.
    package var using: String
    /// The migrations about to be applied (pre) or just applied (post), in order.
    package var plan: [String]

    package init(using: String, plan: [String]) {
        self.using = using
        self.plan = plan
    }
}

// MARK: - Request (django.core.signals)

/// Sent when the daemon starts handling a protocol request.
package let requestStarted = Signal<RequestStarted>("request_started")

/// Sent when the daemon has answered a protocol request.
package let requestFinished = Signal<RequestFinished>("request_finished")

/// Sent when a protocol request is rejected or fails.
package let gotRequestException = Signal<GotRequestException>("got_request_exception")

/// One protocol request on one connection.
package struct RequestContext: Sendable, Hashable {
    /// The connection's number, unique while the daemon runs.
    package var connection: UInt64
    /// The request's operation (`emit`, `query`, …), once it has been decoded.
    package var op: String?
    /// Who is on the other end of the connection.
    package var peer: PeerCredentials

    /// Creates a request context.
    package init(connection: UInt64, op: String?, peer: PeerCredentials) {
        self.connection = connection
        self.op = op
        self.peer = peer
    }
}

/// The payload of ``requestStarted`` (Django's `environ`: here, the request's context).
package struct RequestStarted: Sendable, Hashable {
    /// The request.
    package var request: RequestContext

    package init(request: RequestContext) { self.request = request }
}

/// The payload of ``requestFinished``.
package struct RequestFinished: Sendable, Hashable {
    /// The request.
    package var request: RequestContext
    /// Whether the final answer was `"ok": true`.
    package var ok: Bool

    package init(request: RequestContext, ok: Bool) {
        self.request = request
        self.ok = ok
    }
}

/// The payload of ``gotRequestException``: Django's `request`, and the error itself.
package struct GotRequestException: Sendable {
    /// The request, when it got far enough to have one.
    package var request: RequestContext?
    /// Why it was rejected or failed.
    package var error: any Error

    package init(request: RequestContext?, error: any Error) {
        self.request = request
        self.error = error
    }
}

// MARK: - Test (django.test.signals)

/// Sent for each configuration key changed by a reload (SIGHUP).
package let settingChanged = Signal<SettingChanged>("setting_changed")

/// The payload of ``settingChanged``: Django's `setting`, `value` and `enter`.
package struct SettingChanged: Sendable, Hashable {
    /// The key, as `Section.Key` (for example `Redaction.Mode`).
    package var setting: String
    /// The new value; `nil` when the key was removed.
    package var value: String?
    /// `true` when the value is applied, `false` when a previous value is restored.
    package var enter: Bool

    package init(setting: String, value: String?, enter: Bool) {
        self.setting = setting
        self.value = value
        self.enter = enter
    }
}

// MARK: - Database (django.db.backends.signals)

/// Sent for each SQLite connection opened, before it is used; receivers may set PRAGMAs.
package let connectionCreated = Signal<ConnectionCreated>("connection_created")

/// A database connection handed to ``connectionCreated`` receivers, valid during the call.
package protocol DatabaseConnection: Sendable {
    /// Runs SQL statements on the connection, such as `PRAGMA cache_size = -8000`.
    func execute(_ sql: String) throws
}

/// The payload of ``connectionCreated``: Django's `connection`.
package struct ConnectionCreated: Sendable {
    /// The database engine, `"sqlite"`.
    package var vendor: String
    /// The database file.
    package var path: String
    /// Whether this is the store's one writing connection.
    package var isWriter: Bool
    /// The connection itself.
    package var connection: any DatabaseConnection

    package init(vendor: String = "sqlite", path: String, isWriter: Bool, connection: any DatabaseConnection) {
        self.vendor = vendor
        self.path = path
        self.isWriter = isWriter
        self.connection = connection
    }
}
