package import AuthSignalCore
import Foundation
package import Systemd

/// Audit records read back from the journal entries daemons write: this host's journal, or a
/// directory of journal files collected from many hosts by systemd-journal-remote (docs/fleet.md).
///
/// Records carry their host. Their seqs are per host (each host has
/// its own audit log), so `after_seq` is applied per entry. The journal copy is a mirror for
/// search; the audit log stays the system of record.
///
/// Not `Sendable`: it owns a journal handle.
package final class JournalHistory {
    private let reader: JournalReader
    /// Whose entries are read: any other entry with `AUTHSIGNAL_*` fields is a forgery.
    package let writer: TrustedJournalWriter
    /// How long after a record was received its journal entry may be written (the daemon's journal
    /// queue); bounds the scan past `until`.
    private static let writeDelay: TimeInterval = 600

    /// Opens this host's journal, or the journal files in `directory`, reading the entries of
    /// `writer` (by default ``TrustedJournalWriter/local`` for this host's journal and
    /// ``TrustedJournalWriter/collected`` for a directory).
    package init(directory: String? = nil, writer: TrustedJournalWriter? = nil) throws(JournalError) {
        if let directory {
            reader = try JournalReader(directory: directory)
        } else {
            reader = try JournalReader()
        }
        self.writer = writer ?? (directory == nil ? .local : .collected)
    }

    /// Calls `each` with every record matching `filter` (its order and limit included); returns how
    /// many there were.
    package func records(matching filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Int {
        try matchRecords(filter)
        var count = 0
        let limit = filter.limit ?? Int.max
        guard limit > 0 else { return 0 }
        if filter.order == .ascending {
            if let since = filter.since { reader.seek(realtime: since) } else { reader.seekHead() }
            while let fields = try reader.next() {
                if let until = filter.until, let written = reader.realtime, written >= until + Self.writeDelay { break }
                guard let record = record(fields), filter.matches(record) else { continue }
                try each(record)
                count += 1
                if count == limit { break }
            }
        } else {
            if let until = filter.until { reader.seek(realtime: until + Self.writeDelay) } else { reader.seekTail() }
            while count < limit, let fields = try reader.previous() {
                if let since = filter.since, let written = reader.realtime, written < since { break }
                guard let record = record(fields), filter.matches(record) else { continue }
                try each(record)
                count += 1
            }
        }
        return count
    }

    /// Calls `each` with every matching record written from now on (or from `filter.since`), until
    /// `each` throws. Never returns otherwise.
    package func follow(matching filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Never {
        // No journal matches here: libsystemd (v252) skips the first entry written after the
        // follow started that carries a field value new to the journal file, so a match on a new
        // user or sender would miss it. Every filter is checked on the record instead.
        reader.removeMatches()
        if let since = filter.since {
            reader.seek(realtime: since)
        } else {
            // Onto the newest entry, so that next() returns only entries written after it.
            reader.seekTail()
            _ = try reader.previous()
        }
        while true {
            while let fields = try reader.next() {
                guard let record = record(fields), filter.matches(record) else { continue }
                try each(record)
            }
            try reader.wait(timeout: .seconds(1))
        }
    }

    /// The chain anchors written for the audit log named `logID`, oldest first.
    package func anchors(logID: String) throws -> [AuditJournal.Anchor] {
        try reader.matchAnchors(logID: logID, writer: writer)
        var anchors: [AuditJournal.Anchor] = []
        reader.seekHead()
        while let fields = try reader.next() {
            if let anchor = AuditJournal.anchor(fromEntry: fields, writer: writer) { anchors.append(anchor) }
        }
        return anchors
    }

    private func record(_ fields: [String: [UInt8]]) -> WireRecord? {
        AuditJournal.record(fromEntry: fields, written: reader.realtime, writer: writer)
    }

    /// Journal matches for what the journal indexes (every record is also checked against the
    /// whole filter, which covers the time range and `after_seq`).
    private func matchRecords(_ filter: RecordFilter) throws {
        try reader.matchAuditRecords(
            signal: filter.signal, user: filter.user, sender: filter.sender, remoteAddr: filter.remoteAddr,
            writer: writer)
    }
}
