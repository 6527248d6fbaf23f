import CJournalFaults
import CSystemd
package import Foundation
import Glibc

/// Reads journal entries with `sd_journal_open` (the local journal), `sd_journal_open_directory`
/// or `sd_journal_open_files` (such as files collected by systemd-journal-remote).
///
/// Not `Sendable`: an `sd_journal` handle belongs to one thread at a time.
///
/// A file journald shrinks while it is mapped here (systemd 252 truncates archived files; file
/// systems without hole punching truncate vacuumed ones) reads as zeros instead of killing the
/// process with SIGBUS (CJournalFaults), and the next step throws
/// ``JournalError/fileShrank``: what was read after that point could not be trusted. Only this
/// reader's faults count: one that another reader takes, on this thread or another, leaves it be.
package final class JournalReader {
    private var handle: OpaquePointer?
    /// Whether a file shrank under one of this reader's calls into libsystemd.
    private var shrank = false

    /// Runs `body`, which calls into libsystemd with this reader's handle, and notes whether it
    /// read past the end of a file that shrank: the fault is taken on the calling thread, during
    /// the call.
    @discardableResult
    private func reading<Result>(_ body: () -> Result) -> Result {
        let before = journal_faults_on_this_thread()
        let result = body()
        if journal_faults_on_this_thread() != before { shrank = true }
        return result
    }

    /// Opens the local system journal.
    package init() throws(JournalError) {
        _ = journal_faults_install()
        let result = sd_journal_open(&handle, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard result >= 0 else { throw .readFailed(-result) }
    }

    /// Opens the journal files in `directory`.
    package init(directory: String) throws(JournalError) {
        _ = journal_faults_install()
        let result = sd_journal_open_directory(&handle, directory, 0)
        guard result >= 0 else { throw .readFailed(-result) }
    }

    /// Opens the journal files at `paths` (one sender's, for instance).
    package init(files paths: [String]) throws(JournalError) {
        _ = journal_faults_install()
        var arguments = paths.map { strdup($0) }
        arguments.append(nil)
        defer { for argument in arguments { free(argument) } }
        let result = arguments.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) {
                sd_journal_open_files(&handle, $0.baseAddress, 0)
            }
        }
        guard result >= 0 else { throw .readFailed(-result) }
    }

    deinit { sd_journal_close(handle) }

    /// Only entries with `field` equal to `value` (matches on different fields AND together,
    /// on the same field OR together).
    package func match(_ field: JournalFieldName, _ value: String) throws(JournalError) {
        let text = "\(field.name)=\(value)"
        let result = text.withCString { sd_journal_add_match(handle, $0, 0) }
        guard result >= 0 else { throw .readFailed(-result) }
    }

    /// Removes every match: all entries again.
    package func removeMatches() { sd_journal_flush_matches(handle) }

    /// Every matching entry from the oldest, as field dictionaries (values are raw bytes).
    package func entries() throws(JournalError) -> [[String: [UInt8]]] {
        var all: [[String: [UInt8]]] = []
        seekHead()
        while let entry = try next() { all.append(entry) }
        return all
    }

    /// Positions before the oldest entry.
    package func seekHead() { reading { sd_journal_seek_head(handle) } }

    /// Positions after the newest entry: ``previous()`` then returns the newest entry.
    package func seekTail() { reading { sd_journal_seek_tail(handle) } }

    /// Positions before the first entry written at or after `date`.
    package func seek(realtime date: Date) {
        let microseconds = max(0, date.timeIntervalSince1970 * 1_000_000)
        reading { sd_journal_seek_realtime_usec(handle, UInt64(microseconds)) }
    }

    /// The next matching entry, or `nil` at the end.
    package func next() throws(JournalError) -> [String: [UInt8]]? {
        try step { sd_journal_next(handle) }
    }

    /// The previous matching entry, or `nil` at the start.
    package func previous() throws(JournalError) -> [String: [UInt8]]? {
        try step { sd_journal_previous(handle) }
    }

    /// The entry the step `move` reaches. A file that shrank under this reader throws, even when
    /// the step reports the end: the zeros it read may have looked like one.
    private func step(_ move: () -> Int32) throws(JournalError) -> [String: [UInt8]]? {
        let (result, fields) = reading {
            let result = move()
            return (result, result > 0 ? currentFields() : nil)
        }
        guard !shrank else { throw .fileShrank }
        guard result >= 0 else { throw .readFailed(-result) }
        return fields
    }

    /// When the current entry was written (`__REALTIME_TIMESTAMP`).
    package var realtime: Date? {
        var microseconds: UInt64 = 0
        guard reading({ sd_journal_get_realtime_usec(handle, &microseconds) }) >= 0 else { return nil }
        return Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    /// The boot the current entry was written in: journald's boot id, spelt as
    /// `/proc/sys/kernel/random/boot_id` spells it (and so as the PAM hook's pairing keys do), and
    /// when that boot began (the entry's realtime less its monotonic time, which counts from boot).
    package var boot: (id: String, began: Date)? {
        var monotonic: UInt64 = 0
        var realtime: UInt64 = 0
        var id = sd_id128_t()
        guard reading({ sd_journal_get_monotonic_usec(handle, &monotonic, &id) }) >= 0,
            reading({ sd_journal_get_realtime_usec(handle, &realtime) }) >= 0, realtime >= monotonic
        else { return nil }
        let hex = withUnsafeBytes(of: id.bytes) { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
        let dashed = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            hex.dropFirst(range.lowerBound).prefix(range.count)
        }
        return (dashed.joined(separator: "-"), Date(timeIntervalSince1970: Double(realtime - monotonic) / 1_000_000))
    }

    /// The current entry's cursor: where a reader of the same files finds it again
    /// (``seek(cursor:)``), or `nil` before the first entry is read.
    package var cursor: String? {
        var cursor: UnsafeMutablePointer<CChar>?
        guard reading({ sd_journal_get_cursor(handle, &cursor) }) >= 0, let cursor else { return nil }
        defer { free(cursor) }
        return String(cString: cursor)
    }

    /// Positions so that ``next()`` returns the entry at `cursor`, or the first one after where it
    /// was if it is gone (its file deleted).
    package func seek(cursor: String) throws(JournalError) {
        let result = reading { sd_journal_seek_cursor(handle, cursor) }
        guard result >= 0 else { throw .readFailed(-result) }
    }

    /// Whether the current entry is the one at `cursor`.
    package func isAt(cursor: String) -> Bool { reading { sd_journal_test_cursor(handle, cursor) } > 0 }

    /// The sequence-number id of the file the current entry was read from (the cursor's `s=`):
    /// set when the file is made and kept across its rotations, so it names the writer's series
    /// of files (see ``RemoteJournalFiles``).
    package var seqnumID: String? {
        guard let text = cursor, text.hasPrefix("s="), let end = text.firstIndex(of: ";") else { return nil }
        return String(text[text.index(text.startIndex, offsetBy: 2)..<end])
    }

    /// Waits until the journal changes or `timeout` passes.
    package func wait(timeout: Duration) throws(JournalError) {
        let result = reading { sd_journal_wait(handle, UInt64(max(0, timeout.microseconds))) }
        guard result >= 0 else { throw .readFailed(-result) }
    }

    private func currentFields() -> [String: [UInt8]] {
        var fields: [String: [UInt8]] = [:]
        var data: UnsafeRawPointer?
        var length = 0
        sd_journal_restart_data(handle)
        while sd_journal_enumerate_data(handle, &data, &length) > 0 {
            guard let data else { continue }
            let bytes = UnsafeRawBufferPointer(start: data, count: length)
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: bytes[..<equals], as: UTF8.self)
            fields[name] = Array(bytes[(equals + 1)...])
        }
        return fields
    }
}
