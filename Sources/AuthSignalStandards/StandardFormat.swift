package import AuthSignalProtocol
import Foundation

/// The standard schemas records are exported in (docs/export.md): what SIEMs and log shippers
/// read without a parser written for authsignal.
package enum StandardFormat: String, CaseIterable, Sendable {
    /// OCSF (Open Cybersecurity Schema Framework) events: Authentication (3002) for the auth
    /// signals (``OCSF``).
    case ocsf
    /// Elastic Common Schema documents (``ECS``).
    case ecs

    /// `record` in this format, one JSON object with its keys sorted, without a newline, as
    /// exported by authsignal `release`.
    package func encode(_ record: WireRecord, host: ExportHost, release: String) -> [UInt8] {
        let object: JSONObject =
            switch self {
            case .ocsf: OCSF.event(record, host: host.of(record), release: release)
            case .ecs: ECS.document(record, host: host.of(record), release: release)
            }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1024)
        CanonicalJSON.append(.object(object), to: &bytes)
        return bytes
    }
}

/// The host whose audit log a record came from, as the standards name it: the record's own
/// `host` when it was read from a collector's journals, else this machine.
package struct ExportHost: Sendable, Equatable {
    /// The host name.
    package var hostname: String
    /// systemd's machine id (`/etc/machine-id`), when known: ECS `host.id`, OCSF `device.uid`.
    package var machineID: String?

    /// A host with this name and machine id.
    package init(hostname: String, machineID: String?) {
        self.hostname = hostname
        self.machineID = machineID
    }

    /// This machine: its host name and `/etc/machine-id`.
    package static func local(machineIDPath: String = "/etc/machine-id") -> ExportHost {
        let id = FileManager.default.contents(atPath: machineIDPath).map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ExportHost(hostname: ProcessInfo.processInfo.hostName, machineID: id?.isEmpty == false ? id : nil)
    }

    /// The host `record` describes: the journal's host for records read from journals (whose
    /// machine id is not known here), else this one.
    package func of(_ record: WireRecord) -> ExportHost {
        guard let name = record.host, name != hostname else { return self }
        return ExportHost(hostname: name, machineID: nil)
    }
}

/// The parts of a record both standards map, read once.
struct RecordFacts {
    let record: WireRecord
    /// When it happened: the event's own time, else when it was stored.
    let time: Date
    let service: String?
    let remoteAddress: String?
    /// `remoteAddress` when it is an IPv4 or IPv6 literal.
    let remoteIP: String?
    let tty: String?
    let pairing: String?
    let remoteUser: String?
    /// The request's members no field of the standard holds.
    let otherRequest: JSONObject

    init(_ record: WireRecord) {
        self.record = record
        time = record.time ?? record.received
        let request = record.request ?? [:]
        service = request["service"]?.stringValue
        remoteAddress = request["remote_addr"]?.stringValue
        remoteIP = remoteAddress.flatMap { Self.isIPAddress($0) ? $0 : nil }
        tty = request["tty"]?.stringValue
        pairing = request["pairing"]?.stringValue
        remoteUser = request["remote_user"]?.stringValue
        var rest = request
        for key in ["service", "remote_addr", "tty", "pairing", "remote_user"] where rest[key]?.stringValue != nil {
            rest[key] = nil
        }
        otherRequest = rest
    }

    /// Whether the session came over the network (`true`), from a local terminal (`false`), or
    /// the record does not say (`nil`).
    var isRemote: Bool? {
        if remoteAddress != nil { return true }
        if let tty, tty.hasPrefix("tty") || tty.hasPrefix("/dev/tty") || tty.hasPrefix(":") { return false }
        return nil
    }

    /// One line for a person: `alice logged in from 192.0.2.7 via sshd` (as the journal entry's
    /// message says it).
    var message: String { RecordSentence.text(record) }

    /// What authsignal knows that the standard has no field for: the record's place in its
    /// host's hash chain, its signal and sender, its verdicts, and the rest of its request and
    /// its (redacted) credentials.
    var authsignalMembers: JSONObject {
        var members: JSONObject = [
            "seq": .int(record.seq), "hash": .string(Hex.encode(record.hash)),
            "signal": .string(record.signal.rawValue),
            "sender": .string(record.sender), "received": .string(RFC3339.format(record.received)),
        ]
        if !record.verdicts.isEmpty {
            members["verdicts"] = .array(
                record.verdicts.map { .object(["code": .string($0.code.rawValue), "reason": .string($0.reason)]) })
        }
        if !otherRequest.isEmpty { members["request"] = .object(otherRequest) }
        if let credentials = record.credentials, !credentials.isEmpty { members["credentials"] = .object(credentials) }
        return members
    }

    /// Milliseconds since the epoch, as OCSF's `timestamp_t`.
    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
