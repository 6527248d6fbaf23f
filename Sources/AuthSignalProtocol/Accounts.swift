public import Foundation

/// Which accounts `accounts` (`authsignal lastlog`) returns.
public struct AccountFilter: Sendable, Hashable {
    /// Only this account (as stored: a keyed hash for a name that is no account).
    public var user: String?
    /// Only accounts with failed logins since their last login (or with failures and no login).
    public var failedOnly: Bool

    /// A filter; with no arguments it selects every account the log has seen.
    public init(user: String? = nil, failedOnly: Bool = false) {
        self.user = user
        self.failedOnly = failedOnly
    }
}

/// One account's logins and failures as the protocol carries them: the value of an
/// `{"account":…}` line.
public struct WireAccount: Sendable, Hashable {
    /// A login or a failure: when, from where, through which service, and its record.
    public struct Event: Sendable, Hashable {
        /// The record's seq.
        public var seq: Int64
        /// When it happened (the event's own time, else when it was stored).
        public var time: Date
        /// The remote address.
        public var from: String?
        /// The PAM service, or else the sender.
        public var service: String?

        /// An event with these fields.
        public init(seq: Int64, time: Date, from: String?, service: String?) {
            self.seq = seq
            self.time = time
            self.from = from
            self.service = service
        }

        var object: JSONObject {
            [
                "seq": .int(seq), "time": .string(RFC3339.format(time)), "from": from.map(JSONValue.string) ?? .null,
                "service": service.map(JSONValue.string) ?? .null,
            ]
        }

        init(_ object: JSONObject) throws(ProtocolError) {
            var fields = Fields(object)
            self.init(
                seq: try fields.required(try fields.integer("seq", minimum: 0), "seq"),
                time: try fields.required(try fields.time("time"), "time"), from: try fields.string("from"),
                service: try fields.string("service"))
        }
    }

    /// The account, as stored.
    public var user: String
    /// The latest login.
    public var lastLogin: Event?
    /// The latest failed login.
    public var lastFailure: Event?
    /// Failed logins after the latest login (all of them when it never logged in).
    public var failuresSinceLogin: Int64
    /// Failed logins in the whole log.
    public var failures: Int64
    /// The host whose log this is, for accounts read from journals (many hosts'); `nil` for an
    /// audit log's. `host` on the wire, absent when `nil`.
    public var host: String?

    /// An account with these fields.
    public init(
        user: String, lastLogin: Event?, lastFailure: Event?, failuresSinceLogin: Int64, failures: Int64,
        host: String? = nil
    ) {
        self.user = user
        self.host = host
        self.lastLogin = lastLogin
        self.lastFailure = lastFailure
        self.failuresSinceLogin = failuresSinceLogin
        self.failures = failures
    }

    /// Whether `filter` selects this account.
    public func matches(_ filter: AccountFilter) -> Bool {
        if let user = filter.user, user != self.user { return false }
        return !filter.failedOnly || failuresSinceLogin > 0
    }

    /// The account's JSON object (docs/protocol.md).
    public var object: JSONObject {
        var object: JSONObject = [
            "user": .string(user), "last_login": lastLogin.map { .object($0.object) } ?? .null,
            "last_failure": lastFailure.map { .object($0.object) } ?? .null,
            "failures_since_login": .int(failuresSinceLogin), "failures": .int(failures),
        ]
        if let host { object["host"] = .string(host) }
        return object
    }

    /// `{"account":{…}}` and a newline.
    public var line: [UInt8] { ProtocolResponse.line(["account": .object(object)]) }

    /// Reads an account object.
    /// - Throws: ``ProtocolError`` naming the field that is missing or of the wrong type.
    public init(_ object: JSONObject) throws(ProtocolError) {
        var fields = Fields(object)
        let login = try fields.object("last_login")
        let failure = try fields.object("last_failure")
        self.init(
            user: try fields.required(try fields.string("user"), "user"),
            lastLogin: try login.map { object throws(ProtocolError) in try Event(object) },
            lastFailure: try failure.map { object throws(ProtocolError) in try Event(object) },
            failuresSinceLogin: try fields.required(
                try fields.integer("failures_since_login", minimum: 0), "failures_since_login"),
            failures: try fields.required(try fields.integer("failures", minimum: 0), "failures"),
            host: try fields.string("host"))
    }
}
