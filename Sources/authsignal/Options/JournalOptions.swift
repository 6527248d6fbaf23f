import ArgumentParser
import AuditJournal
import Foundation
import Glibc

/// Which journal `query`, `follow`, `report`, `verify`, `last`, `who` and `lastlog` read audit entries or chain anchors
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
    ///
    /// A collector's directory holds a file per sender and rotation, and each file is open twice
    /// (in its sender's reader and in the directory's): first the soft limit on open files is
    /// raised to the hard one, as journalctl does. Under the usual soft limit of 1024, 600
    /// senders' files were already too many.
    func open() throws -> JournalHistory {
        if directory != nil { raiseOpenFileLimit() }
        return try JournalHistory(directory: directory, host: host, writer: writer.writer(collected: directory != nil))
    }
}

extension JournalOptions {
    /// ``open()``, or the exit status for a journal that cannot be opened, having said why.
    func openForReading() throws -> JournalHistory {
        do {
            return try open()
        } catch {
            FileHandle.standardError.write(Data("authsignal: cannot open the journal: \(error)\n".utf8))
            throw ExitStatus.unavailable.exit
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit.
private func raiseOpenFileLimit() {
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    var limit = rlimit()
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    setrlimit(resource, &limit)
}
