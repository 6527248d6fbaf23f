public import AuthSignalCore
public import Foundation

/// The journal's form of audit events and chain anchors (docs/journal.md lists every field).
public enum AuditJournal {
    /// The fixed MESSAGE_ID of each signal's entries (catalogued in systemd/authsignal.catalog).
    public static func messageID(_ signal: AuthSignal) -> String {
        switch signal {
        case .userLoggedIn: "c3ef2f29475a4a88a3cc2ab3d5a50c7d"
        case .userLoggedOut: "a3188ca8ac9649b8a4ab676cab312ecf"
        case .userLoginFailed: "17494b96fe8e453d89aaeb949444e3f2"
        }
    }

    /// The MESSAGE_ID of chain-anchor entries.
    public static let anchorMessageID = "f02c7b5697994cf6ac6fcd838ff96e8f"

    /// The SYSLOG_IDENTIFIER of every entry.
    public static let identifier = "authsignald"

    /// The entry for a committed audit record.
    /// - Parameters:
    ///   - event: the redacted event.
    ///   - seq: its seq in the audit log.
    ///   - hash: its chain hash.
    public static func entry(for event: RedactedEvent, seq: Int64, hash: [UInt8]) -> JournalEntry {
        entry(
            for: AuditFacts(
                signal: event.signal, sender: event.sender, user: event.user, remoteAddr: event.remoteAddr,
                request: event.request, credentials: event.credentials, peer: event.peer),
            seq: seq, hash: hash)
    }

    /// The entry for a committed audit record, from the facts the record holds.
    public static func entry(for facts: AuditFacts, seq: Int64, hash: [UInt8]) -> JournalEntry {
        var entry = JournalEntry()
        entry.append(.message, sentence(for: facts))
        entry.append(.messageID, messageID(facts.signal))
        entry.append(.priority, facts.signal == .userLoginFailed ? "5" : "6")
        entry.append(.syslogIdentifier, identifier)
        entry.append(.signal, facts.signal.rawValue)
        entry.append(.sender, facts.sender)
        if let user = facts.user { entry.append(.user, user) }
        if let address = facts.remoteAddr { entry.append(.remoteAddr, address) }
        if let received = facts.received { entry.append(.received, RFC3339.format(received)) }
        if let time = facts.time { entry.append(.time, RFC3339.format(time)) }
        entry.append(.seq, String(seq))
        entry.append(.peerUID, String(facts.peer.uid))
        entry.append(.peerGID, String(facts.peer.gid))
        entry.append(.peerPID, String(facts.peer.pid))
        if let request = facts.request { entry.append(.request, bytes: Array(CanonicalJSON.encode(request))) }
        if let credentials = facts.credentials {
            entry.append(.credentials, bytes: Array(CanonicalJSON.encode(credentials)))
        }
        entry.append(.hash, Hex.encode(hash))
        return entry
    }

    /// The entry anchoring the audit log's chain head, so that `verify` can detect truncation
    /// and a rewritten chain; `logID` names the log, so that a log is checked only against its
    /// own anchors.
    public static func anchorEntry(seq: Int64, hash: [UInt8], logID: String) -> JournalEntry {
        var entry = JournalEntry()
        let hex = Hex.encode(hash)
        entry.append(.message, "Audit log chain head: record \(seq), hash \(hex)")
        entry.append(.messageID, anchorMessageID)
        entry.append(.priority, "6")
        entry.append(.syslogIdentifier, identifier)
        entry.append(.seq, String(seq))
        entry.append(.hash, hex)
        entry.append(.logID, logID)
        return entry
    }

    /// The audit record an entry written by ``entry(for:seq:hash:)`` describes, in the protocol's
    /// record form plus `"host"` (the entry's `_HOSTNAME`), or `nil` for any other entry.
    ///
    /// Any local program can write `AUTHSIGNAL_*` fields; only entries `writer` admits are taken.
    /// - Parameter written: when the entry was written; stands in for `received` in entries
    ///   written before AUTHSIGNAL_RECEIVED existed.
    public static func record(
        fromEntry fields: [String: [UInt8]], written: Date?, writer: TrustedJournalWriter
    ) -> JSONObject? {
        func text(_ field: JournalFieldName) -> String? {
            fields[field.name].map { String(decoding: $0, as: UTF8.self) }
        }
        func integer(_ field: JournalFieldName) -> JSONValue {
            text(field).flatMap { Int64($0) }.map { .int($0) } ?? .null
        }
        func object(_ field: JournalFieldName) -> JSONValue {
            guard let bytes = fields[field.name],
                case .object(let value)? = try? JSONParser.parse(bytes, allowsNUL: true)
            else { return .null }
            return .object(value)
        }
        guard writer.admits(fields), text(.syslogIdentifier) == identifier,
            let signal = text(.signal).flatMap(AuthSignal.init(rawValue:)),
            let seq = text(.seq).flatMap({ Int64($0) })
        else { return nil }
        let received = text(.received) ?? written.map(RFC3339.format)
        return [
            "seq": .int(seq), "signal": .string(signal.rawValue), "sender": .string(text(.sender) ?? ""),
            "user": text(.user).map { .string($0) } ?? .null, "received": received.map { .string($0) } ?? .null,
            "time": text(.time).map { .string($0) } ?? .null, "request": object(.request),
            "credentials": object(.credentials), "hash": .string(text(.hash) ?? ""),
            "peer": .object(["uid": integer(.peerUID), "gid": integer(.peerGID), "pid": integer(.peerPID)]),
            "host": text(.hostname).map { .string($0) } ?? .null,
        ]
    }

    /// A chain anchor read back from the journal.
    public struct Anchor: Sendable, Hashable {
        /// The anchored record's seq.
        public let seq: Int64
        /// Its chain hash.
        public let hash: [UInt8]
        /// The audit log it belongs to (`nil` in anchors written before log identities).
        public let logID: String?
    }

    /// The anchor an entry written by ``anchorEntry(seq:hash:logID:)`` holds, or `nil` (also for
    /// entries `writer` does not admit, as for records).
    public static func anchor(fromEntry fields: [String: [UInt8]], writer: TrustedJournalWriter) -> Anchor? {
        guard writer.admits(fields),
            fields[JournalFieldName.messageID.name].map({ String(decoding: $0, as: UTF8.self) }) == anchorMessageID,
            let seq = fields[JournalFieldName.seq.name].flatMap({ Int64(String(decoding: $0, as: UTF8.self)) }),
            let hash = fields[JournalFieldName.hash.name].flatMap({ Hex.decode(String(decoding: $0, as: UTF8.self)) })
        else { return nil }
        return Anchor(
            seq: seq, hash: hash, logID: fields[JournalFieldName.logID.name].map { String(decoding: $0, as: UTF8.self) }
        )
    }

    /// A readable sentence, with control characters of client-supplied text escaped so that a
    /// hostile user name cannot forge lines in log views.
    public static func sentence(for event: RedactedEvent) -> String {
        sentence(
            for: AuditFacts(
                signal: event.signal, sender: event.sender, user: event.user, remoteAddr: event.remoteAddr,
                request: nil, credentials: nil, peer: event.peer))
    }

    static func sentence(for event: AuditFacts) -> String {
        let user = event.user.map(DisplaySafe.escaped)
        let origin = event.remoteAddr.map { " from \(DisplaySafe.escaped($0))" } ?? ""
        let via = " via \(DisplaySafe.escaped(event.sender))"
        switch event.signal {
        case .userLoggedIn: return "\(user ?? "A user") logged in\(origin)\(via)"
        case .userLoggedOut: return "\(user ?? "A user") logged out\(origin)\(via)"
        case .userLoginFailed: return "Login failed\(user.map { " for \($0)" } ?? "")\(origin)\(via)"
        }
    }

}

/// What a journal entry says about a stored record: the fields of a ``RedactedEvent`` as the
/// audit log keeps them (an `AuditRecord` is redacted by construction).
public struct AuditFacts: Sendable {
    /// The signal.
    public var signal: AuthSignal
    /// Who reported it.
    public var sender: String
    /// The account, as stored.
    public var user: String?
    /// `request.remote_addr`.
    public var remoteAddr: String?
    /// The redacted request.
    public var request: JSONObject?
    /// The redacted credentials.
    public var credentials: JSONObject?
    /// Who sent it.
    public var peer: PeerCredentials
    /// When the daemon received it.
    public var received: Date?
    /// When it happened at the source, if the sender said.
    public var time: Date?

    /// Creates the facts.
    public init(
        signal: AuthSignal, sender: String, user: String?, remoteAddr: String?, request: JSONObject?,
        credentials: JSONObject?, peer: PeerCredentials, received: Date? = nil, time: Date? = nil
    ) {
        self.received = received
        self.time = time
        self.signal = signal
        self.sender = sender
        self.user = user
        self.remoteAddr = remoteAddr
        self.request = request
        self.credentials = credentials
        self.peer = peer
    }
}

extension JournalFieldName {
    static let message = JournalFieldName(trusted: "MESSAGE")
    static let messageID = JournalFieldName(trusted: "MESSAGE_ID")
    static let priority = JournalFieldName(trusted: "PRIORITY")
    static let syslogIdentifier = JournalFieldName(trusted: "SYSLOG_IDENTIFIER")
    static let signal = JournalFieldName(trusted: "AUTHSIGNAL_SIGNAL")
    static let sender = JournalFieldName(trusted: "AUTHSIGNAL_SENDER")
    static let user = JournalFieldName(trusted: "AUTHSIGNAL_USER")
    static let remoteAddr = JournalFieldName(trusted: "AUTHSIGNAL_REMOTE_ADDR")
    static let seq = JournalFieldName(trusted: "AUTHSIGNAL_SEQ")
    static let received = JournalFieldName(trusted: "AUTHSIGNAL_RECEIVED")
    static let time = JournalFieldName(trusted: "AUTHSIGNAL_TIME")
    static let logID = JournalFieldName(trusted: "AUTHSIGNAL_LOG_ID")
    static let hostname = JournalFieldName(trusted: "_HOSTNAME")
    static let peerUID = JournalFieldName(trusted: "AUTHSIGNAL_PEER_UID")
    static let peerGID = JournalFieldName(trusted: "AUTHSIGNAL_PEER_GID")
    static let peerPID = JournalFieldName(trusted: "AUTHSIGNAL_PEER_PID")
    static let request = JournalFieldName(trusted: "AUTHSIGNAL_REQUEST")
    static let credentials = JournalFieldName(trusted: "AUTHSIGNAL_CREDENTIALS")
    static let hash = JournalFieldName(trusted: "AUTHSIGNAL_HASH")
}

extension JournalReader {
    /// Limits reading to the audit entries authsignald writes, with the given field values
    /// (`nil`: any), replacing earlier matches.
    public func matchAuditRecords(
        signal: AuthSignal?, user: String?, sender: String?, remoteAddr: String?, writer: TrustedJournalWriter
    ) throws(JournalError) {
        removeMatches()
        try match(writer)
        try match(.syslogIdentifier, AuditJournal.identifier)
        for each in signal.map({ [$0] }) ?? AuthSignal.allCases {
            try match(.messageID, AuditJournal.messageID(each))
        }
        if let user { try match(.user, user) }
        if let sender { try match(.sender, sender) }
        if let remoteAddr { try match(.remoteAddr, remoteAddr) }
    }

    /// Limits reading to entries of `writer`, as far as journal matches can (an entry without a
    /// unit cannot be matched; ``TrustedJournalWriter/admits(_:)`` checks each entry too).
    private func match(_ writer: TrustedJournalWriter) throws(JournalError) {
        if let unit = writer.unit { try match(.systemdUnit, unit) }
        if let uid = writer.uid { try match(.uid, String(uid)) }
    }

    /// Limits reading to the chain anchors of the audit log named `logID`, replacing earlier
    /// matches.
    public func matchAnchors(logID: String, writer: TrustedJournalWriter) throws(JournalError) {
        removeMatches()
        try match(writer)
        try match(.messageID, AuditJournal.anchorMessageID)
        try match(.logID, logID)
    }
}
