import ArgumentParser
import AuditJournal
import Foundation
import Glibc

/// Whether and where `last`, `who`, `lastlog` and `report` over a collector's directory keep
/// its index (``FleetIndex``, docs/fleet.md).
struct FleetIndexOptions: ParsableArguments {
    @Option(
        name: .customLong("index-directory"),
        help: ArgumentHelp(
            "With --journal-directory: keep each host's index here, fed before each answer with what arrived "
                + "since (default: under /var/cache/authsignal/fleet when it can be written).",
            valueName: "dir"))
    var indexDirectory: String?
    @Flag(name: .customLong("no-index"), help: "With --journal-directory: keep no index; read every entry again.")
    var noIndex = false

    /// Refuses the options without a collector's directory to index, or together.
    func validate(journalDirectory: String?) throws {
        if (indexDirectory != nil || noIndex) && journalDirectory == nil {
            throw ValidationError("--index-directory and --no-index need --journal-directory")
        }
        if indexDirectory != nil && noIndex {
            throw ValidationError("--index-directory and --no-index exclude each other")
        }
    }

    /// The index of the collector's directory `journals` to read through: the one named, else the
    /// default one when it can be made and written (root's), else none (every entry is read
    /// again); none for this host's journal.
    func index(for journals: String?) throws -> FleetIndex? {
        guard let journals, !noIndex else { return nil }
        if let indexDirectory {
            do {
                return try FleetIndex(directory: indexDirectory)
            } catch {
                throw failReading(error)
            }
        }
        let standard = FleetIndex.defaultDirectory(for: journals)
        guard let index = try? FleetIndex(directory: standard), access(standard, W_OK) == 0 else { return nil }
        return index
    }
}
