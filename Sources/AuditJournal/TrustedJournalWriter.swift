import Glibc
import Systemd

/// Which journal entries count as the audit daemon's: judged only by fields journald stamps from
/// the kernel and the cgroup (`_SYSTEMD_UNIT`, `_UID`), which the writing process cannot choose.
/// `_COMM` is not one of them: any user can run a program named `authsignald`.
///
/// What this proves, and what not: an entry that passes was written by a process in the named
/// system unit running as the named uid; a user who is not root cannot put a process there. Root
/// on the writing host can write anything; the audit log (hash-chained, checked against anchors
/// collected off the host) is what holds against root.
package struct TrustedJournalWriter: Sendable, Hashable, CustomStringConvertible {
    /// The unit the daemon runs as.
    package static let serviceUnit = "authsignald.service"
    /// The account the shipped unit runs the daemon as.
    package static let serviceAccount = "authsignald"

    /// The `_SYSTEMD_UNIT` entries must carry; `nil` for a daemon run outside any system unit
    /// (development, tests), whose entries then must carry no `_SYSTEMD_UNIT` at all.
    package var unit: String?
    /// The `_UID` entries must carry; `nil` accepts any (the hosts of a collector each gave the
    /// service account its own uid).
    package var uid: UInt32?

    /// A writer of these stamps.
    package init(unit: String?, uid: UInt32?) {
        self.unit = unit
        self.uid = uid
    }

    /// This host's daemon: ``serviceUnit`` run as ``serviceAccount`` (any uid when this host has
    /// no such account; the unit still proves the origin).
    package static var local: TrustedJournalWriter {
        TrustedJournalWriter(unit: serviceUnit, uid: getpwnam(serviceAccount).map { $0.pointee.pw_uid })
    }

    /// Daemons on other hosts, in files a collector received: ``serviceUnit`` under any uid.
    package static let collected = TrustedJournalWriter(unit: serviceUnit, uid: nil)

    /// Whether the entry with these fields was written by this writer.
    package func admits(_ fields: [String: [UInt8]]) -> Bool {
        let entryUnit = fields[JournalFieldName.systemdUnit.name].map { String(decoding: $0, as: UTF8.self) }
        guard entryUnit == unit else { return false }
        guard let uid else { return true }
        return fields[JournalFieldName.uid.name].map { String(decoding: $0, as: UTF8.self) } == String(uid)
    }

    /// `unit authsignald.service, uid 998`.
    package var description: String {
        "unit \(unit ?? "(none)"), uid \(uid.map(String.init) ?? "any")"
    }
}
