import Synchronization
import Systemd

/// The PAM hook's journal reports of events it could not deliver (`SYSLOG_IDENTIFIER=
/// authsignal-pam`, `AUTHSIGNAL_HOOK_RESULT=spooled` or `lost`), read as they come: only root's
/// count (the hook runs in root's login services; a user can log such a line too, but not with
/// `_UID=0`). The service's unit gives it the `systemd-journal` group to read them.
///
/// Reports written while the service is stopped are not read (it starts at the journal's end);
/// the spool they name is still seen through the daemon's counters (`spool-growing`).
final class HookReports: Sendable {
    private let reader: Mutex<JournalReader?>

    /// Opens the local journal at its end; with no journal to read, there are no reports.
    init() {
        let reader = try? JournalReader()
        if let reader {
            try? reader.match(.syslogIdentifier, "authsignal-pam")
            reader.seekTail()
            _ = try? reader.previous()
        }
        self.reader = Mutex(reader)
    }

    /// The reports written since the last call, oldest first.
    func new() -> [(result: String, message: String)] {
        reader.withLock { reader in
            guard let reader else { return [] }
            var reports: [(result: String, message: String)] = []
            do {
                try reader.wait(timeout: .zero)
                while let fields = try reader.next() {
                    guard text(fields["_UID"]) == "0", let result = text(fields["AUTHSIGNAL_HOOK_RESULT"]),
                        result == "spooled" || result == "lost"
                    else { continue }
                    reports.append((result, text(fields["MESSAGE"]) ?? ""))
                }
            } catch {
                // Read again at the next look.
            }
            return reports
        }
    }

    private func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
}
