import ArgumentParser
import AuditJournal

/// Which journal `query`, `follow`, `report` and `verify` read audit entries or chain anchors
/// from: this host's, or the files a collector holds (`--journal-directory`, one sender's with
/// `--host`); and whose entries in it count (``JournalWriterOptions``).
struct JournalOptions: ParsableArguments {
    @Option(
        name: .customLong("journal-directory"),
        help: "Read the journal files in this directory (many hosts', collected: docs/fleet.md).")
    var directory: String?
    @Option(
        help: ArgumentHelp(
            "With --journal-directory: read only the files systemd-journal-remote wrote for this host.",
            valueName: "name"))
    var host: String?
    @OptionGroup var writer: JournalWriterOptions

    func validate() throws {
        if host != nil && directory == nil { throw ValidationError("--host needs --journal-directory") }
    }

    /// Opens the directory's files, or this host's journal when no directory is named.
    func open() throws -> JournalHistory {
        try JournalHistory(directory: directory, host: host, writer: writer.writer(collected: directory != nil))
    }
}
