package import AuthSignalStandards

/// The export file (`[Export]` in authsignald.conf; docs/export.md): every committed record, once,
/// as a JSON line in a standard schema, for a log shipper to tail. The export service
/// (authsignal-export, `authsignal export run`) writes it; the daemon only checks the settings.
package struct ExportSettings: Sendable, Hashable {
    /// The file; rotated files are `PATH.1` (newest) to `PATH.N`.
    package var path = "/var/log/authsignal/export.jsonl"
    /// The schema of each line.
    package var format = StandardFormat.ocsf
    /// The file is rotated once a write takes it past this size, in MiB.
    package var maxFileMiB = 100
    /// How many rotated files are kept; the oldest beyond them is removed.
    package var keepFiles = 5

    /// The defaults.
    package init() {}
}
