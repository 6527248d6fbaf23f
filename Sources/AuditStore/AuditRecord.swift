package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation

/// One committed audit record: the system of record for one auth event.
package struct AuditRecord: Sendable, Hashable {
    /// The record's sequence number: monotonic, never reused, contiguous unless pruned.
    package let seq: Int64
    /// When the daemon stored it (microsecond resolution, never earlier than the previous record).
    package let received: Date
    /// When it happened at the source, if the source said.
    package let time: Date?
    /// The auth signal.
    package let signal: AuthSignal
    /// Who reported it.
    package let sender: String
    /// The account (keyed-hashed for unknown accounts of failed logins).
    package let user: String?
    /// `request.remote_addr`, when it is a string.
    package let remoteAddr: String?
    /// The request, redacted.
    package let request: JSONObject?
    /// The credentials, redacted.
    package let credentials: JSONObject?
    /// Who sent it, as the kernel reported.
    package let peer: PeerCredentials
    /// The client's idempotency key.
    package let idempotencyKey: String?
    /// The previous record's hash (the anchor's, or 32 zero bytes, for the first).
    package let prevHash: Data
    /// SHA-256 of `prevHash` followed by the record's canonical encoding (docs/storage.md).
    package let hash: Data
    /// What the daemon judged it to be (docs/verdicts.md): derived, outside the hash.
    package var verdicts: [Verdict] = []
}

extension AuditRecord {
    /// Whether the record is history imported from wtmp or btmp (`authsignal import`, whose
    /// senders are `import-wtmp` and `import-btmp`), not an event reported as it happened.
    package var isImported: Bool { sender.hasPrefix(Self.importedSenderPrefix) }

    /// What the sender of every imported record starts with.
    package static let importedSenderPrefix = "import-"

    /// The record of `event` stored as `seq` (for code that builds records without a store).
    package init(
        event: RedactedEvent, seq: Int64, received: Date, prevHash: Data, hash: Data, verdicts: [Verdict] = []
    ) {
        self.init(
            seq: seq, received: received, time: event.time, signal: event.signal, sender: event.sender,
            user: event.user, remoteAddr: event.remoteAddr, request: event.request, credentials: event.credentials,
            peer: event.peer, idempotencyKey: event.id, prevHash: prevHash, hash: hash, verdicts: verdicts)
    }
}

/// A record's seq and hash: the chain head, or an anchor written elsewhere (the journal).
package struct ChainHead: Sendable, Hashable, Codable {
    /// The record's seq; 0 with the genesis hash when nothing was ever stored.
    package let seq: Int64
    /// The record's hash.
    package let hash: Data

    /// Creates a chain head.
    package init(seq: Int64, hash: Data) {
        self.seq = seq
        self.hash = hash
    }

    /// The head of an empty log.
    package static let genesis = ChainHead(seq: 0, hash: Data(count: 32))

    /// The hash in lower-case hexadecimal.
    package var hashHex: String { hash.hexString }
}

extension Data {
    /// The bytes in lower-case hexadecimal.
    var hexString: String { Hex.encode(self) }
}
