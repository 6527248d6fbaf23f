package import AuditJournal
package import AuditStore
import AuthSignalProtocol
package import Foundation

/// One alert's facts, as the outbox keeps them and every sink receives them (in a message's
/// `alerts`; docs/alerts.md shows the JSON). Only what explains the alert is copied from the
/// record, never its request or credentials: the account as the log stores it (keyed-hashed
/// names stay hashed), the source, service, tty and sender, and the verdicts with their reasons.
package struct AlertEvent: Sendable, Hashable, Codable {
    /// What fired: a record, a failure of the audit path, or `authsignal alerts test`.
    package enum Kind: String, Sendable, Hashable, Codable {
        case record
        case health
        case test
    }

    /// The latest earlier login of the account.
    package struct PreviousLogin: Sendable, Hashable, Codable {
        /// When it happened: the event's own time, else when it was stored (RFC 3339).
        package var time: String
        /// Where it came from, if it said.
        package var source: String?
        /// On a fleet's collector: the host it was on.
        package var host: String?
    }

    package var kind: Kind
    /// `record`, on a fleet's collector: the host whose record it is (docs/fleet.md).
    package var host: String?
    /// When it happened: the event's own time if the sender gave one, else when it was stored
    /// (RFC 3339, UTC).
    package var time: String
    /// `record`: the record's seq in the host's audit log.
    package var seq: Int64?
    /// `record`: `login`, `logout` or `failed`.
    package var signal: String?
    package var user: String?
    /// `record`: `request.remote_addr`.
    package var source: String?
    /// `record`: `request.service` (the PAM service).
    package var service: String?
    package var tty: String?
    /// `record`: the sender's name (`sender`) and its uid, as the kernel reported it.
    package var sender: String?
    package var senderUID: UInt32?
    /// `record`: whether the sender is trusted (`[Access] TrustedUsers`).
    package var trusted: Bool?
    /// `record`: the verdicts on a login, with their reasons.
    package var verdicts: [VerdictEntry]?
    /// `record`, for a login: the account's latest earlier login, if any.
    package var previousLogin: PreviousLogin?
    /// `health`: which condition.
    package var condition: String?
    /// `health` and `test`: what happened, in a sentence.
    package var detail: String?

    /// A verdict as an alert carries it: on a fleet's collector, with its scope (`host` or
    /// `fleet`).
    package struct VerdictEntry: Sendable, Hashable, Codable {
        package var code: String
        package var reason: String
        package var scope: String?
    }

    enum CodingKeys: String, CodingKey {
        case kind, host, time, seq, signal, user, source, service, tty, sender, trusted, verdicts, condition, detail
        case senderUID = "sender_uid"
        case previousLogin = "previous_login"
    }

    /// The alert on `record`, with `previous` the account's latest earlier login (for a login).
    package init(record: AuditRecord, trusted: Bool, previous: AuditRecord?) {
        self.init(
            record: record.wire, uid: record.peer.uid, trusted: trusted,
            previous: previous.map {
                PreviousLogin(time: RFC3339.format($0.time ?? $0.received), source: $0.remoteAddr)
            })
    }

    /// The alert on a record that reached a fleet's collector: its host, its host's and the
    /// fleet's verdicts, and the account's previous login on any host.
    package init(fleet record: FleetRecord) {
        let wire = record.entry.record
        self.init(
            record: wire, uid: wire.peer?.uid, trusted: record.entry.trusted,
            previous: record.previousLogin.map {
                PreviousLogin(time: RFC3339.format($0.time), source: $0.source, host: $0.host)
            })
        host = wire.host
    }

    private init(record: WireRecord, uid: UInt32?, trusted: Bool, previous: PreviousLogin?) {
        kind = .record
        time = RFC3339.format(record.time ?? record.received)
        seq = record.seq
        signal = record.signal.shortName
        user = record.user
        source = record.remoteAddr
        service = record.request?["service"]?.stringValue
        tty = record.request?["tty"]?.stringValue
        sender = record.sender
        senderUID = uid
        self.trusted = trusted
        verdicts =
            record.verdicts.isEmpty
            ? nil
            : record.verdicts.map { VerdictEntry(code: $0.code.rawValue, reason: $0.reason, scope: $0.scope?.rawValue) }
        previousLogin = previous
    }

    /// An alert on a failure of the audit path (or a test), at `date`.
    package init(kind: Kind, condition: String?, detail: String, at date: Date) {
        self.kind = kind
        time = RFC3339.format(date)
        self.condition = condition
        self.detail = detail
    }

    /// The JSON object the outbox stores.
    package func encoded() -> String {
        String(decoding: (try? Self.encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The alert the outbox stored as `json`.
    package init(json: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(json.utf8))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
