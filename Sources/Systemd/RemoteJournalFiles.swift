import Foundation

/// The journal files systemd-journal-remote writes one series per sender into a directory
/// (`remote-NAME.journal`, rotated to `remote-NAME@….journal`), and which sender an entry read
/// from them came from.
///
/// The name is the collector's: journal-remote (or the unit that runs it for one sender, as in
/// docs/fleet.md) chooses the file from the connection, never from the entries, so a host cannot
/// write into another host's files whatever `_HOSTNAME` it stamps. An entry is traced to its file
/// through the sequence-number id in its cursor, which each file's header holds and rotation keeps.
package struct RemoteJournalFiles: Sendable {
    /// The directory read.
    package let directory: String
    /// Each sender's files, oldest name first.
    package private(set) var files: [String: [String]] = [:]
    /// How many journal files of the directory are not named by sender.
    package private(set) var unnamedFiles = 0
    private var senders: [String: String] = [:]

    /// Reads the names and headers of the files in `directory`.
    package init(directory: String) {
        self.directory = directory
        rescan()
    }

    /// Reads the directory again (a sender that appeared, a file rotated).
    package mutating func rescan() {
        files = [:]
        senders = [:]
        unnamedFiles = 0
        var ambiguous: Set<String> = []
        for name in (try? Self.journalFileNames(in: directory)) ?? [] {
            guard let sender = Self.sender(fileName: name) else {
                unnamedFiles += 1
                continue
            }
            let path = directory + "/" + name
            files[sender, default: []].append(path)
            guard let id = Self.seqnumID(path: path) else { continue }
            if let known = senders[id], known != sender { ambiguous.insert(id) }
            senders[id] = sender
        }
        // Two senders' files with one id are copies, not journal-remote's: neither name is proof.
        for id in ambiguous { senders[id] = nil }
    }

    /// The names of the journal files in `directory` (`.journal`, and `.journal~` for files
    /// journald set aside), sorted.
    package static func journalFileNames(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".journal") || $0.hasSuffix(".journal~") }.sorted()
    }

    /// The sender whose files carry the sequence-number id `seqnumID`, if any of this directory's.
    package func sender(seqnumID: String) -> String? { senders[seqnumID] }

    /// `web1` for `remote-web1.journal`, `remote-web1@…journal` and their `~` forms (files
    /// journald set aside); `nil` for a file not named by sender.
    package static func sender(fileName: String) -> String? {
        guard fileName.hasPrefix("remote-"), fileName.hasSuffix(".journal") || fileName.hasSuffix(".journal~")
        else { return nil }
        let stem = fileName.dropFirst("remote-".count).prefix { $0 != "@" }
        let name = stem.hasSuffix(".journal~") ? stem.dropLast(9) : stem.hasSuffix(".journal") ? stem.dropLast(8) : stem
        return name.isEmpty ? nil : String(name)
    }

    /// Where a journal file's header keeps its sequence-number id (systemd's journal-def.h:
    /// signature, flags, state and reserved bytes, then the file, machine and boot ids).
    private static let seqnumIDOffset: UInt64 = 72

    /// The sequence-number id in the header of the journal file at `path`, as the cursor spells it.
    static func seqnumID(path: String) -> String? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        guard (try? file.seek(toOffset: seqnumIDOffset)) != nil,
            let bytes = try? file.read(upToCount: 16), bytes.count == 16
        else { return nil }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}
