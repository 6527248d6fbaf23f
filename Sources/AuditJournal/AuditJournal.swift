package import AuditStore
import AuthSignalCore
package import AuthSignalProtocol
package import Foundation
import Glibc
package import Systemd

/// The journal's form of audit events and chain anchors (docs/journal.md lists every field).
package enum AuditJournal {
    /// The fixed MESSAGE_ID of each signal's entries (catalogued in systemd/authsignal.catalog).
    package static func messageID(_ signal: AuthSignal) -> String {
        switch signal {
        case .userLoggedIn: "c3ef2f29475a4a88a3cc2ab3d5a50c7d"
        case .userLoggedOut: "a3188ca8ac9649b8a4ab676cab312ecf"
        case .userLoginFailed: "17494b96fe8e453d89aaeb949444e3f2"
        case .passwordChanged: "0ddc1fc77c4f438ea5030def97d2f177"
        case .passwordChangeFailed: "e0d4e254d9184ab2a4cd936abf6ce774"
        case .accountAdded: "196f3d8c43db430380e9139d547ea93c"
        case .accountRemoved: "d021a156e0204e5894f9722e0673fdce"
        case .accountLocked: "eaad49f04adb4af69fae4794da1bbf4e"
        case .accountUnlocked: "2c83f344e3544b3e971fc7178940d4c7"
        case .groupMembershipChanged: "fd23364d51e840b7a7f97c179fcf7ce2"
        case .daemonStarted: "164a4d47a8914b5d827ea54963bdcc5e"
        case .daemonStopped: "6177ac8abb114927902f4fac46298808"
        case .configReloaded: "414ab4612a8440c5bc1938a86641e9ad"
        case .retentionRan: "1c44115b6b6b4d049647c3038336d28e"
        }
    }

    /// The MESSAGE_ID of chain-anchor entries.
    package static let anchorMessageID = "f02c7b5697994cf6ac6fcd838ff96e8f"

    /// The SYSLOG_IDENTIFIER of every entry.
    package static let identifier = "authsignald"

    /// The entry for a committed audit record; `trustedSender` when its peer is a trusted
    /// sender (root, `[Access] TrustedUsers`), the only entries bans and alerts may act on;
    /// `logID` names the audit log it is in, so that a collector keeps a host's logs apart.
    package static func entry(for record: AuditRecord, trustedSender: Bool, logID: String? = nil) -> JournalEntry {
        var entry = JournalEntry()
        entry.append(.message, sentence(for: record, trustedSender: trustedSender))
        entry.append(.messageID, messageID(record.signal))
        entry.append(.priority, record.signal == .userLoginFailed ? "5" : "6")
        entry.append(.syslogIdentifier, identifier)
        entry.append(.signal, record.signal.rawValue)
        entry.append(.sender, record.sender)
        if let user = record.user { entry.append(.user, user) }
        if let address = record.remoteAddr { entry.append(.remoteAddr, address) }
        entry.append(.received, RFC3339.format(record.received))
        if let time = record.time { entry.append(.time, RFC3339.format(time)) }
        entry.append(.seq, String(record.seq))
        entry.append(.peerUID, String(record.peer.uid))
        entry.append(.peerGID, String(record.peer.gid))
        entry.append(.peerPID, String(record.peer.pid))
        entry.append(.trusted, trustedSender ? "yes" : "no")
        if let request = record.request { entry.append(.request, bytes: Array(CanonicalJSON.encode(request))) }
        if let credentials = record.credentials {
            entry.append(.credentials, bytes: Array(CanonicalJSON.encode(credentials)))
        }
        entry.append(.hash, Hex.encode(record.hash))
        if let logID { entry.append(.logID, logID) }
        if !record.verdicts.isEmpty {
            // One field per code, for `journalctl AUTHSIGNAL_VERDICT=…` and ban tools' matches,
            // and all of them with their reasons in one, for reading the record back.
            for verdict in record.verdicts { entry.append(.verdict, verdict.code.rawValue) }
            var verdicts: [UInt8] = []
            Verdict.appendArray(record.verdicts, to: &verdicts)
            entry.append(.verdicts, bytes: verdicts)
        }
        return entry
    }

    /// The entry anchoring the audit log's chain head, so that `verify` can detect truncation
    /// and a rewritten chain; `logID` names the log, so that a log is checked only against its
    /// own anchors.
    package static func anchorEntry(seq: Int64, hash: [UInt8], logID: String) -> JournalEntry {
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

    /// The audit record an entry written by ``entry(for:)`` describes, with the entry's
    /// `_HOSTNAME` as its host, or `nil` for any other entry.
    ///
    /// Any local program can write `AUTHSIGNAL_*` fields; only entries `writer` admits are taken.
    /// - Parameter written: when the entry was written; stands in for `received` in entries
    ///   written before AUTHSIGNAL_RECEIVED existed.
    package static func record(
        fromEntry fields: [String: [UInt8]], written: Date?, writer: TrustedJournalWriter
    ) -> WireRecord? {
        func text(_ field: JournalFieldName) -> String? {
            fields[field.name].map { String(decoding: $0, as: UTF8.self) }
        }
        func object(_ field: JournalFieldName) -> JSONObject? {
            guard let bytes = fields[field.name],
                case .object(let value)? = try? JSONParser.parse(bytes, allowsNUL: true)
            else { return nil }
            return value
        }
        guard writer.admits(fields), text(.syslogIdentifier) == identifier,
            let signal = text(.signal).flatMap(AuthSignal.init(rawValue:)),
            let seq = text(.seq).flatMap({ Int64($0) }),
            let received = text(.received).flatMap(RFC3339.parse) ?? written
        else { return nil }
        var peer: PeerCredentials?
        if let uid = text(.peerUID).flatMap({ UInt32($0) }), let gid = text(.peerGID).flatMap({ UInt32($0) }),
            let pid = text(.peerPID).flatMap({ Int32($0) })
        {
            peer = PeerCredentials(uid: uid, gid: gid, pid: pid)
        }
        return WireRecord(
            seq: seq, received: received, time: text(.time).flatMap(RFC3339.parse), signal: signal,
            sender: text(.sender) ?? "", user: text(.user), request: object(.request),
            credentials: object(.credentials), peer: peer,
            hash: Data(text(.hash).flatMap(Hex.decode) ?? []), host: text(.hostname),
            verdicts: fields[JournalFieldName.verdicts.name].flatMap { bytes in
                (try? JSONParser.parse(bytes)).flatMap { try? Verdict.array($0) }
            } ?? [])
    }

    /// A chain anchor read back from the journal.
    package struct Anchor: Sendable, Hashable {
        /// The anchored record's seq.
        package let seq: Int64
        /// Its chain hash.
        package let hash: [UInt8]
        /// The audit log it belongs to (`nil` in anchors written before log identities).
        package let logID: String?
        /// The host it came from, when read back by ``JournalHistory``.
        package var host: String?
    }

    /// The anchor an entry written by ``anchorEntry(seq:hash:logID:)`` holds, or `nil` (also for
    /// entries `writer` does not admit, as for records).
    package static func anchor(fromEntry fields: [String: [UInt8]], writer: TrustedJournalWriter) -> Anchor? {
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
    package static func sentence(for record: AuditRecord, trustedSender: Bool) -> String {
        let user = record.user.map(DisplaySafe.escaped)
        let via = " via \(DisplaySafe.escaped(record.sender))"
        if record.signal == .userLoginFailed, let address = record.remoteAddr, isNumericAddress(address), trustedSender
        {
            // Address first, for fail2ban and CrowdSec (etc/fail2ban, etc/crowdsec anchor on it):
            // nothing a client controls comes before it, and only a numeric address leads. Then
            // the password's keyed hash, shortened, so that one password tried on many accounts
            // (spraying) shows without the key or the password.
            let password = passwordTag(record).map { " pwhash=\($0)" } ?? ""
            return "rhost=\(address)\(password) login failed\(user.map { " for \($0)" } ?? "")\(via)"
        }
        if record.signal == .userLoggedIn, !record.verdicts.isEmpty, let address = record.remoteAddr,
            isNumericAddress(address), trustedSender
        {
            // A judged login leads with its address and verdict codes, as a failure does, so that
            // a ban tool can act on a verdict (etc/fail2ban: the success-after-failures jail).
            let codes = record.verdicts.map(\.code.rawValue).joined(separator: ",")
            return "rhost=\(address) verdicts=\(codes) \(user ?? "A user") logged in\(via)"
        }
        let origin = record.remoteAddr.map { " from \(DisplaySafe.escaped($0))" } ?? ""
        switch record.signal {
        case .userLoggedIn: return "\(user ?? "A user") logged in\(origin)\(via)"
        case .userLoggedOut: return "\(user ?? "A user") logged out\(origin)\(via)"
        case .userLoginFailed:
            // An untrusted sender's failure never leads with "rhost=": a filter that forgot the
            // AUTHSIGNAL_TRUSTED match still cannot ban by it.
            let reporter = trustedSender ? "" : " (reported by uid \(record.peer.uid), not a trusted sender)"
            return "Login failed\(user.map { " for \($0)" } ?? "")\(origin)\(via)\(reporter)"
        default:
            // Password, account and lifecycle records: the sentence every export uses, escaped.
            return DisplaySafe.escaped(RecordSentence.text(record.wire))
        }
    }

    /// The first 16 hex digits (64 bits) of the keyed hash of the record's `password` credential:
    /// enough to tell passwords apart in a window of failures, and not the stored hash itself.
    static func passwordTag(_ record: AuditRecord) -> String? {
        guard case .string(let stored)? = record.credentials?["password"],
            stored.hasPrefix(Redactor.keyedHashPrefix)
        else { return nil }
        let hex = stored.dropFirst(Redactor.keyedHashPrefix.count).prefix(16)
        return hex.count == 16 && hex.allSatisfy(\.isHexDigit) ? String(hex) : nil
    }

    /// Whether `text` is an IPv4 or IPv6 address in numeric form (what the kernel would accept):
    /// a host name, or anything with spaces or more text, is not.
    static func isNumericAddress(_ text: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
    }
}

/// The fields of authsignald's entries (docs/journal.md).
extension JournalFieldName {
    static let signal = JournalFieldName(trusted: "AUTHSIGNAL_SIGNAL")
    static let sender = JournalFieldName(trusted: "AUTHSIGNAL_SENDER")
    static let user = JournalFieldName(trusted: "AUTHSIGNAL_USER")
    static let remoteAddr = JournalFieldName(trusted: "AUTHSIGNAL_REMOTE_ADDR")
    static let seq = JournalFieldName(trusted: "AUTHSIGNAL_SEQ")
    static let received = JournalFieldName(trusted: "AUTHSIGNAL_RECEIVED")
    static let time = JournalFieldName(trusted: "AUTHSIGNAL_TIME")
    static let logID = JournalFieldName(trusted: "AUTHSIGNAL_LOG_ID")
    static let peerUID = JournalFieldName(trusted: "AUTHSIGNAL_PEER_UID")
    static let peerGID = JournalFieldName(trusted: "AUTHSIGNAL_PEER_GID")
    static let peerPID = JournalFieldName(trusted: "AUTHSIGNAL_PEER_PID")
    /// `yes` when the sender is trusted (root, `[Access] TrustedUsers`), else `no`.
    static let trusted = JournalFieldName(trusted: "AUTHSIGNAL_TRUSTED")
    static let request = JournalFieldName(trusted: "AUTHSIGNAL_REQUEST")
    static let credentials = JournalFieldName(trusted: "AUTHSIGNAL_CREDENTIALS")
    static let hash = JournalFieldName(trusted: "AUTHSIGNAL_HASH")
    /// A verdict's code, once per verdict (docs/verdicts.md).
    static let verdict = JournalFieldName(trusted: "AUTHSIGNAL_VERDICT")
    /// The verdicts with their reasons, as the JSON array of a record's `verdicts`.
    static let verdicts = JournalFieldName(trusted: "AUTHSIGNAL_VERDICTS")
}

extension JournalReader {
    /// Limits reading to the audit entries authsignald writes of `signals`, with the given field
    /// values (`nil`: any), replacing earlier matches.
    package func matchAuditRecords(
        signals: [AuthSignal] = AuthSignal.allCases, user: String?, sender: String?, remoteAddr: String?,
        writer: TrustedJournalWriter
    ) throws(JournalError) {
        removeMatches()
        try match(writer)
        try match(.syslogIdentifier, AuditJournal.identifier)
        for each in signals {
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

    /// Limits reading to the chain anchors of the audit log named `logID` (of any log, when
    /// `nil`), replacing earlier matches.
    package func matchAnchors(logID: String?, writer: TrustedJournalWriter) throws(JournalError) {
        removeMatches()
        try match(writer)
        try match(.messageID, AuditJournal.anchorMessageID)
        if let logID { try match(.logID, logID) }
    }
}
