import ArgumentParser
import AuditJournal
import AuthSignalClient
import AuthSignalProtocol
import Foundation
import Systemd

/// Whose journal entries count as the daemon's (docs/journal.md): the stamps journald sets and a
/// writer cannot choose.
struct JournalWriterOptions: ParsableArguments {
    @Option(
        name: .customLong("journal-unit"),
        help: ArgumentHelp(
            "Read only entries journald stamped with this _SYSTEMD_UNIT; none: a daemon run outside systemd.",
            valueName: "unit"))
    var unit = TrustedJournalWriter.serviceUnit
    @Option(
        name: .customLong("journal-uid"),
        help: ArgumentHelp(
            "Read only entries stamped with this _UID, a number or an account (default: the authsignald "
                + "account for this host's journal, any uid for --journal-directory).",
            valueName: "uid"))
    var uid: String?

    func validate() throws {
        if let uid, UInt32(uid) == nil, getpwnam(uid) == nil {
            throw ValidationError("--journal-uid: no account \(uid)")
        }
        // Outside a unit only journald's _UID stamp tells the daemon's entries from those any
        // local user can write; where the host has no authsignald account there would be none.
        if unit == "none", uid == nil {
            throw ValidationError(
                "--journal-unit none needs --journal-uid: outside a unit, only the writer's uid tells the "
                    + "daemon's entries from entries any local user can write")
        }
    }

    /// The writer these options name; `collected` for files from other hosts.
    func writer(collected: Bool) -> TrustedJournalWriter {
        let base: TrustedJournalWriter = collected ? .collected : .local
        let account = uid.flatMap { UInt32($0) ?? getpwnam($0).map { $0.pointee.pw_uid } }
        return TrustedJournalWriter(unit: unit == "none" ? nil : unit, uid: uid == nil ? base.uid : account)
    }
}
