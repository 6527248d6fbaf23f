import Foundation
import Systemd

/// The journal files of a directory followed one series at a time: each sender's files
/// (`remote-NAME.journal` and its rotations) and each other series of files (`system.journal` and
/// `system@….journal`) have a reader of their own.
///
/// The journal library's merged view of a directory cannot follow a collector's: it steps on from
/// the entry it returned last in the order of all the files, and it orders entries of different
/// senders by their timestamps. An entry that reaches the collector after a later-stamped entry
/// of another sender was read (a host's backlog after an outage, a slower uploader, a clock
/// behind) is never returned; `journalctl -f -D` misses it too. Within one series an entry only
/// ever comes after the ones before it.
///
/// The directory is listed again by ``refresh()``: a file rotated, a sender's first file, or a
/// file deleted changes a series' files, and its reader is opened again on them where the old one
/// stood.
package final class DirectoryFollower {
    /// Where a series' reader starts when it has no entry to resume after.
    enum Start {
        /// After the newest entry: only what is written from now on.
        case newest
        /// Before the oldest entry: a series that appeared after the follow started.
        case oldest
        /// At the first entry written at or after this time.
        case since(Date)
    }

    /// A series: a sender's files, or another file and its rotations.
    package enum SeriesName: Hashable, Comparable {
        case sender(String)
        case unnamed(String)
    }

    let directory: String
    /// The only sender followed, if any.
    private let host: String?
    /// Where series that appear later start.
    private let laterStart: Start
    private var series: [SeriesName: FollowedSeries] = [:]

    /// Opens a reader for each series of `directory` (only sender `host`'s, when given), placed
    /// at `start`.
    init(directory: String, host: String?, start: Start) throws {
        self.directory = directory
        self.host = host
        if case .since = start { laterStart = start } else { laterStart = .oldest }
        for (name, paths) in try listing() {
            series[name] = try FollowedSeries(sender: Self.sender(of: name), paths: paths, start: start)
        }
    }

    /// The series followed, in name order.
    var streams: [FollowedSeries] { series.sorted { $0.key < $1.key }.map(\.value) }

    /// Lists the directory again and reopens each series whose files changed; a series that
    /// cannot be opened now (a file still being created) is tried again at the next refresh.
    /// Read every stream to its end first: a series whose files are all gone is dropped.
    func refresh() {
        guard let now = try? listing() else { return }
        for (name, paths) in now {
            if let known = series[name] {
                if known.paths != paths { try? known.reopen(paths: paths) }
            } else if let new = try? FollowedSeries(sender: Self.sender(of: name), paths: paths, start: laterStart) {
                series[name] = new
            }
        }
        for name in series.keys where now[name] == nil { series[name] = nil }
    }

    /// The journal files of the directory by series, each series' paths sorted.
    private func listing() throws -> [SeriesName: [String]] {
        var listing: [SeriesName: [String]] = [:]
        for file in try RemoteJournalFiles.journalFileNames(in: directory) {
            guard let name = Self.seriesName(fileName: file) else { continue }
            if let host, name != .sender(host) { continue }
            listing[name, default: []].append(directory + "/" + file)
        }
        return listing
    }

    /// The series a journal file belongs to: its sender for a file systemd-journal-remote named,
    /// else its name before the rotation suffix (`system` for `system@….journal`); `nil` for a
    /// file that is not a journal file.
    package static func seriesName(fileName: String) -> SeriesName? {
        if let sender = RemoteJournalFiles.sender(fileName: fileName) { return .sender(sender) }
        guard fileName.hasSuffix(".journal") || fileName.hasSuffix(".journal~") else { return nil }
        let stem = fileName.prefix { $0 != "@" && $0 != "." }
        return stem.isEmpty ? nil : .unnamed(String(stem))
    }

    private static func sender(of name: SeriesName) -> String? {
        if case .sender(let sender) = name { sender } else { nil }
    }
}

/// One series of a followed directory: its own reader over its files.
final class FollowedSeries {
    /// The sender whose files these are; `nil` for files not named by sender.
    let sender: String?
    /// The files open, sorted.
    private(set) var paths: [String]
    private var reader: JournalReader
    /// Where a reader opened again starts when the old one had no entry to resume after.
    private var start: DirectoryFollower.Start
    /// The cursor a reopened reader was placed at: its first entry is that one again, unless it
    /// is gone.
    private var resuming: String?
    /// The cursor of the entry returned last: where a reader opened again resumes.
    private var lastCursor: String?

    init(sender: String?, paths: [String], start: DirectoryFollower.Start) throws {
        self.sender = sender
        self.paths = paths
        self.start = start
        reader = try JournalReader(files: paths)
        try place()
    }

    /// Opens a reader on `paths`, the series' files now, placed after the entry the current
    /// reader read last.
    func reopen(paths: [String]) throws {
        let reader = try JournalReader(files: paths)
        if let cursor = lastCursor {
            try reader.seek(cursor: cursor)
            resuming = cursor
            self.reader = reader
        } else {
            self.reader = reader
            try place()
        }
        self.paths = paths
    }

    /// The next entry and the reader positioned on it, or `nil` at the end of the files for now.
    /// A file that shrank under the reader (journald rotated or vacuumed it) is opened again, and
    /// the reader resumes after the entry returned last.
    func next() throws -> (fields: [String: [UInt8]], reader: JournalReader)? {
        do {
            return try step()
        } catch JournalError.fileShrank {
            // A file vacuumed where holes cannot be punched was truncated and deleted.
            let remaining = paths.filter { FileManager.default.fileExists(atPath: $0) }
            guard !remaining.isEmpty else { return nil }
            try reopen(paths: remaining)
            return try step()
        }
    }

    private func step() throws -> (fields: [String: [UInt8]], reader: JournalReader)? {
        var fields = try reader.next()
        if let cursor = resuming, fields != nil {
            resuming = nil
            if reader.isAt(cursor: cursor) { fields = try reader.next() }
        }
        guard let fields else { return nil }
        lastCursor = reader.cursor
        return (fields, reader)
    }

    /// Places the reader at `start`. A series with no entry yet, followed from the newest, is
    /// followed from its first.
    private func place() throws {
        switch start {
        case .newest:
            reader.seekTail()
            if try reader.previous() == nil {
                start = .oldest
                reader.seekHead()
            } else {
                lastCursor = reader.cursor
            }
        case .oldest: reader.seekHead()
        case .since(let date): reader.seek(realtime: date)
        }
    }
}
