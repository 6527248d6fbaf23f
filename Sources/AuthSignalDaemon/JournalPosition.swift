import Foundation
import Glibc

/// How far the journal copy of one audit log got, kept beside the log (`PATH.journal-position`:
/// the log's id and the last seq written), so that a daemon restarted while the journal was behind
/// sends the rest from the log instead of starting from the new commits.
///
/// Written at most once a second and at stop, by rename and without fsync: after a crash the
/// position may be a little behind, and the records since are written again (at least once; each
/// entry carries its `AUTHSIGNAL_SEQ`), never skipped.
struct JournalPosition: Sendable {
    let path: String
    let logID: String

    /// The position of the log `logID` stored at `databasePath`.
    init(databasePath: String, logID: String) {
        path = databasePath + ".journal-position"
        self.logID = logID
    }

    /// The last seq the journal got, if this log's position was kept.
    func load() -> Int64? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard parts.count == 2, parts[0] == logID, let seq = Int64(parts[1]), seq >= 0 else { return nil }
        return seq
    }

    /// Keeps `seq` as the last seq the journal got.
    func store(_ seq: Int64) {
        let temporary = path + ".new"
        let text = "\(logID) \(seq)\n"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { return }
        if rename(temporary, path) != 0 { unlink(temporary) }
    }
}
