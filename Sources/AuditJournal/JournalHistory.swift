package import AuditStore
package import AuthSignalProtocol
import Foundation
import Systemd

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
    /// The collected files by sender, for a directory: each record's host is its file's sender.
    private var remote: RemoteJournalFiles?
    /// Sequence-number ids no file of the directory carried when last read again.
    private var unattributed: Set<String> = []
    /// What was read already: an entry the uploader sent twice is one record.
    private var seen = SeenRecords()
    /// The sender whose files alone are open, if any.
    private let onlyHost: String?

    /// Opens this host's journal, or the journal files in `directory` (only the files
    /// systemd-journal-remote wrote for the sender `host`, when given), reading the entries of
    /// `writer` (by default ``TrustedJournalWriter/local`` for this host's journal and
    /// ``TrustedJournalWriter/collected`` for a directory).
    package init(directory: String? = nil, host: String? = nil, writer: TrustedJournalWriter? = nil) throws {
        if let directory {
            let remote = RemoteJournalFiles(directory: directory)
            if let host {
                guard let files = remote.files[host] else { throw JournalHistoryError.noFiles(host: host, directory) }
                reader = try JournalReader(files: files)
            } else {
                reader = try JournalReader(directory: directory)
            }
            self.remote = remote
        } else {
            reader = try JournalReader()
            remote = nil
        }
        onlyHost = directory == nil ? nil : host
        self.writer = writer ?? (directory == nil ? .local : .collected)
    }

    /// Calls `each` with every record matching `filter` (its order and limit included); returns how
    /// many there were.
    ///
    /// A collector's directory of files named by sender is read one reader per sender, merged by
    /// the time each record was received. The journal library's own merged view would show an
    /// entry once when two senders' files hold it byte for byte, and the copy it kept could be the
    /// one a host replayed from another.
    package func records(matching filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Int {
        let limit = filter.limit ?? Int.max
        guard let senders = sendersToReadApart else {
            return try scan(reader, filter, limit: limit, host: nil, each: each)
        }
        var streams: [(reader: JournalReader, host: String)] = []
        for (sender, paths) in senders {
            let stream = try JournalReader(files: paths)
            try start(stream, filter)
            streams.append((stream, sender))
        }
        return try Self.merge(
            streams.count, forward: filter.order == .ascending, limit: limit, record: { $0 }, each: each
        ) {
            while let record = try nextRecord(streams[$0].reader, filter, host: streams[$0].host) {
                if seen.first(record) { return record }
            }
            return nil
        }
    }

    /// Calls `each` with up to `limit` elements of `count` streams, the earliest received first (the
    /// latest, if not `forward`) by the record each is or holds (`record`); returns how many.
    /// `next(i)` is stream `i`'s next element, in the same order, or `nil` at its end.
    private static func merge<Element>(
        _ count: Int, forward: Bool, limit: Int, record: (Element) -> WireRecord,
        each: (Element) throws -> Void, next: (Int) throws -> Element?
    ) throws -> Int {
        var heads = MergeHeads<Int, Element>()
        func readAhead(_ stream: Int) throws {
            if let element = try next(stream) { heads.put(element, MergeKey(record(element)), of: stream) }
        }
        for stream in 0..<count { try readAhead(stream) }
        var emitted = 0
        while emitted < limit, let (stream, element) = heads.popFirst(forward: forward) {
            try readAhead(stream)
            try each(element)
            emitted += 1
        }
        return emitted
    }

    /// Calls `each` with every record matching `filter` (its limit included, not its order), one
    /// sender's files after another; returns how many there were. For answers that do not depend
    /// on order, such as a report's counts: no merging, and one reader open at a time. This
    /// host's journal, one sender's files, and a directory that also holds files not named by
    /// sender are read in time order.
    package func recordsInAnyOrder(matching filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Int {
        guard let senders = sendersToReadApart else { return try records(matching: filter, each: each) }
        var count = 0
        for (sender, paths) in senders {
            let limit = (filter.limit ?? Int.max) - count
            guard limit > 0 else { break }
            count += try scan(JournalReader(files: paths), filter, limit: limit, host: sender, each: each)
        }
        return count
    }

    /// Reads `reader` over `filter`'s time range in its order, calling `each` with up to `limit`
    /// matching records; returns how many. `host` names the sender whose files `reader` holds,
    /// if known.
    private func scan(
        _ reader: JournalReader, _ filter: RecordFilter, limit: Int, host: String?, each: (WireRecord) throws -> Void
    ) throws -> Int {
        guard limit > 0 else { return 0 }
        try start(reader, filter)
        var count = 0
        while count < limit, let record = try nextRecord(reader, filter, host: host) {
            guard seen.first(record) else { continue }
            try each(record)
            count += 1
        }
        return count
    }

    /// Sets `reader`'s matches for `filter` and places it at the start of the filter's time range,
    /// in the filter's order.
    private func start(_ reader: JournalReader, _ filter: RecordFilter) throws {
        try match(reader, filter)
        if filter.order == .ascending {
            if let since = filter.since { reader.seek(realtime: since) } else { reader.seekHead() }
        } else {
            if let until = filter.until { reader.seek(realtime: until + Self.writeDelay) } else { reader.seekTail() }
        }
    }

    /// The next record of `reader`, in the filter's order, that matches `filter`; `nil` past the
    /// end of its time range or of the files.
    private func nextRecord(_ reader: JournalReader, _ filter: RecordFilter, host: String?) throws -> WireRecord? {
        let forward = filter.order == .ascending
        // Entries are written up to writeDelay after the record was received.
        let end = forward ? filter.until.map { $0 + Self.writeDelay } : filter.since
        while let fields = try forward ? reader.next() : reader.previous() {
            if let end, let written = reader.realtime, forward ? written >= end : written < end { return nil }
            if let record = record(fields, in: reader, host: host), filter.matches(record) { return record }
        }
        return nil
    }

    /// Calls `each` with every matching record written from now on (or from `filter.since`), until
    /// `each` throws. Never returns otherwise.
    ///
    /// A directory is followed one series of files at a time (``DirectoryFollower``): in a
    /// collector's, entries of one host that arrive after a later-stamped entry of another were
    /// read would be skipped by the journal library's merged view. Each round's records are shown
    /// in the order they were received.
    package func follow(matching filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Never {
        // No journal matches here: libsystemd (v252) skips the first entry written after the
        // follow started that carries a field value new to the journal file, so a match on a new
        // user or sender would miss it. Every filter is checked on the record instead.
        reader.removeMatches()
        guard let remote else { try followThisHost(matching: filter, each: each) }
        let follower = try DirectoryFollower(
            directory: remote.directory, host: onlyHost, start: filter.since.map { .since($0) } ?? .newest)
        while true {
            let streams = follower.streams
            _ = try Self.merge(streams.count, forward: true, limit: .max, record: { $0 }, each: each) {
                while let (fields, reader) = try streams[$0].next() {
                    guard let record = record(fields, in: reader, host: streams[$0].sender), filter.matches(record),
                        seen.first(record)
                    else { continue }
                    return record
                }
                return nil
            }
            // The directory's reader (or the host's files') rings when any file changes.
            try reader.wait(timeout: .seconds(1))
            follower.refresh()
        }
    }

    /// ``follow(matching:each:)`` for this host's journal: its files are one machine's, which
    /// the merged view orders as they were written.
    private func followThisHost(matching filter: RecordFilter, each: (WireRecord) throws -> Void) throws -> Never {
        if let since = filter.since {
            reader.seek(realtime: since)
        } else {
            // Onto the newest entry, so that next() returns only entries written after it.
            reader.seekTail()
            _ = try reader.previous()
        }
        while true {
            while let fields = try reader.next() {
                guard let record = record(fields, in: reader, host: nil), filter.matches(record), seen.first(record)
                else { continue }
                try each(record)
            }
            try reader.wait(timeout: .seconds(1))
        }
    }

    /// Calls `each` with every record of `signals` (only `user`'s, when given), with whether the
    /// daemon that wrote it trusted its sender (`AUTHSIGNAL_TRUSTED`; for an entry of a daemon older
    /// than that field, whether the sender was root) and its log: one host after another, and
    /// each host's in the order its daemon wrote them, which is its log's order. For the sessions
    /// and accounts ``HostActivity`` builds.
    package func activity(
        of signals: [AuthSignal], user: String?, each: (JournalActivityEntry) throws -> Void
    ) throws {
        guard let senders = sendersToReadApart else {
            return try activity(in: reader, of: signals, user: user, host: nil) { entry, _ in try each(entry) }
        }
        for (sender, paths) in senders {
            try activity(in: JournalReader(files: paths), of: signals, user: user, host: sender) { entry, _ in
                try each(entry)
            }
        }
    }

    /// The senders of a collector's directory whose files are all named by sender (only the one
    /// `host` named, when given), each with its files, in name order; `nil` for this host's
    /// journal, or a directory that also holds files not named by sender. The hosts a
    /// ``FleetIndex`` can keep.
    package var namedSenders: [(sender: String, paths: [String])]? {
        guard let remote, remote.unnamedFiles == 0 else { return nil }
        return remote.files.filter { onlyHost.map($0.key.elementsEqual) ?? true }.sorted { $0.key < $1.key }
            .map { (sender: $0.key, paths: $0.value) }
    }

    /// Calls `each` with `sender`'s records of `signals` in `paths` written after the entry at
    /// `cursor` (all, when `nil`), `batch` at a time (as ``activity(of:user:each:)`` gives them),
    /// each batch with the cursor of its last entry; returns the boot the sender is in, as
    /// ``boot(of:)`` tells it, read from the same files.
    package func activity(
        of signals: [AuthSignal], sender: String, paths: [String], after cursor: String?, batch: Int,
        each: (_ entries: [JournalActivityEntry], _ cursor: String) throws -> Void
    ) throws -> BootContext {
        let stream = try JournalReader(files: paths)
        var pending: [JournalActivityEntry] = []
        try activity(in: stream, of: signals, user: nil, host: sender, after: cursor) { entry, _ in
            pending.append(entry)
            // A cursor per batch, not per entry: only the last one is stored.
            if pending.count >= batch, let at = stream.cursor {
                try each(pending, at)
                pending.removeAll(keepingCapacity: true)
            }
        }
        // At the end of the files the reader stays on the last entry it returned.
        if !pending.isEmpty, let last = stream.cursor { try each(pending, last) }
        stream.removeMatches()
        return try Self.newestBoot(stream)
    }

    /// Reads `stream`'s records of `signals` (only `user`'s, when given) in the order written,
    /// after the entry at `cursor` when given, calling `each` with each and `stream` (on its
    /// entry).
    private func activity(
        in stream: JournalReader, of signals: [AuthSignal], user: String?, host: String?, after cursor: String? = nil,
        each: (_ entry: JournalActivityEntry, _ stream: JournalReader) throws -> Void
    ) throws {
        try stream.matchAuditRecords(signals: signals, user: user, sender: nil, remoteAddr: nil, writer: writer)
        if let cursor { try stream.seek(cursor: cursor) } else { stream.seekHead() }
        // After a seek to a cursor, the first entry is the one there, when it is still in the files.
        var seekedTo = cursor
        while let fields = try stream.next() {
            if let at = seekedTo {
                seekedTo = nil
                if stream.isAt(cursor: at) { continue }
            }
            guard let entry = activityEntry(fields, in: stream, of: signals, user: user, host: host) else { continue }
            try each(entry, stream)
        }
    }

    /// The record of `signals` (only `user`'s, when given) that `fields`, `stream`'s current
    /// entry, holds, with its daemon's trust and log; `nil` for any other entry, or one read
    /// already.
    private func activityEntry(
        _ fields: [String: [UInt8]], in stream: JournalReader, of signals: [AuthSignal], user: String?, host: String?
    ) -> JournalActivityEntry? {
        guard let record = record(fields, in: stream, host: host), signals.contains(record.signal),
            user.map({ $0 == record.user }) ?? true, seen.first(record)
        else { return nil }
        return JournalActivityEntry(record: record, fields: fields)
    }

    /// Calls `each` with every record of `signals` of every host, as ``activity(of:user:each:)``
    /// gives them, but merged across hosts by when each was received (each host's still in the
    /// order its daemon wrote them): the fleet's history as one, for ``FleetJudge``.
    package func activityInReceivedOrder(of signals: [AuthSignal], each: (JournalActivityEntry) throws -> Void) throws {
        guard let senders = sendersToReadApart else {
            return try activity(in: reader, of: signals, user: nil, host: nil) { entry, _ in try each(entry) }
        }
        var streams: [(reader: JournalReader, host: String)] = []
        for (sender, paths) in senders {
            let stream = try JournalReader(files: paths)
            try stream.matchAuditRecords(signals: signals, user: nil, sender: nil, remoteAddr: nil, writer: writer)
            stream.seekHead()
            streams.append((stream, sender))
        }
        _ = try Self.merge(streams.count, forward: true, limit: .max, record: \.record, each: each) {
            let (stream, host) = streams[$0]
            while let fields = try stream.next() {
                if let entry = activityEntry(fields, in: stream, of: signals, user: nil, host: host) { return entry }
            }
            return nil
        }
    }

    /// The boot `host` is in, as far as this journal shows: this host's own for its journal; for
    /// a sender of a collector's directory, the boot of the newest entry of its files (any entry:
    /// the uploader sends the host's whole journal) and when it began; nothing known otherwise.
    package func boot(of host: String?) throws -> BootContext {
        guard let remote else { return .current() }
        guard let host, let files = remote.files[host] else { return BootContext(bootID: nil, bootTime: nil) }
        return try Self.newestBoot(JournalReader(files: files))
    }

    /// The boot of `reader`'s newest entry (it has no matches), and when it began.
    private static func newestBoot(_ reader: JournalReader) throws -> BootContext {
        reader.seekTail()
        guard try reader.previous() != nil, let boot = reader.boot else {
            return BootContext(bootID: nil, bootTime: nil)
        }
        return BootContext(bootID: boot.id, bootTime: Microseconds.from(boot.began))
    }

    /// The chain anchors written for the audit log named `logID`, oldest first, each with the host
    /// it came from (in a collector's directory).
    ///
    /// One log is one host's: anchors of it from several senders of a collector's directory mean
    /// that one of them wrote the other's log id, and the caller must name the host
    /// (``JournalHistoryError/anchorsFromSeveralHosts(logID:_:)``).
    package func anchors(logID: String) throws -> [AuditJournal.Anchor] {
        var anchors: [AuditJournal.Anchor] = []
        if let senders = sendersToReadApart {
            // Each sender's own: a replayed copy of another host's anchor is not hidden behind it.
            for (sender, paths) in senders {
                anchors += try self.anchors(logID: logID, in: JournalReader(files: paths), host: sender)
            }
            anchors.sort { $0.seq < $1.seq }
        } else {
            anchors = try self.anchors(logID: logID, in: reader, host: nil)
        }
        let hosts = Set(anchors.compactMap(\.host))
        if remote != nil, hosts.count > 1 {
            throw JournalHistoryError.anchorsFromSeveralHosts(logID: logID, hosts.sorted())
        }
        return anchors
    }

    /// The anchors of log `logID` in `reader`, with `host` as their host, or else (only in a
    /// collector's directory) the sender of each one's file or its `_HOSTNAME`.
    private func anchors(logID: String, in reader: JournalReader, host: String?) throws -> [AuditJournal.Anchor] {
        try reader.matchAnchors(logID: logID, writer: writer)
        var anchors: [AuditJournal.Anchor] = []
        reader.seekHead()
        while let fields = try reader.next() {
            guard var anchor = AuditJournal.anchor(fromEntry: fields, writer: writer) else { continue }
            if remote != nil {
                anchor.host =
                    host ?? currentSender(of: reader)
                    ?? fields[JournalFieldName.hostname.name].map { String(decoding: $0, as: UTF8.self) }
            }
            anchors.append(anchor)
        }
        return anchors
    }

    /// Each sender's files, by sender name, when this is a collector's directory of several
    /// senders whose files are all named by sender, so that each can be read apart; else `nil`.
    private var sendersToReadApart: [(sender: String, paths: [String])]? {
        guard let remote, onlyHost == nil, remote.unnamedFiles == 0, remote.files.count > 1 else { return nil }
        return remote.files.sorted { $0.key < $1.key }.map { (sender: $0.key, paths: $0.value) }
    }

    /// The sender of the file of `reader`'s current entry, reading the directory again once for
    /// an id no known file carries (a sender that appeared since).
    private func currentSender(of reader: JournalReader) -> String? {
        guard remote != nil, let id = reader.seqnumID else { return nil }
        if let sender = remote?.sender(seqnumID: id) { return sender }
        guard !unattributed.contains(id) else { return nil }
        remote?.rescan()
        if let sender = remote?.sender(seqnumID: id) { return sender }
        unattributed.insert(id)
        return nil
    }

    /// The record `fields` describe, the current entry of `reader`, with its host: `host` when
    /// given, else its file's sender.
    private func record(_ fields: [String: [UInt8]], in reader: JournalReader, host: String?) -> WireRecord? {
        guard var record = AuditJournal.record(fromEntry: fields, written: reader.realtime, writer: writer) else {
            return nil
        }
        if let sender = host ?? currentSender(of: reader) { record.host = sender }
        return record
    }

    /// Journal matches on `reader` for what the journal indexes (every record is also checked
    /// against the whole filter, which covers the time range and `after_seq`).
    private func match(_ reader: JournalReader, _ filter: RecordFilter) throws {
        try reader.matchAuditRecords(
            signals: filter.signal.map { [$0] } ?? AuthSignal.allCases, user: filter.user, sender: filter.sender,
            remoteAddr: filter.remoteAddr,
            writer: writer)
    }
}

/// Why a collector's directory could not answer.
package enum JournalHistoryError: Error, Equatable, CustomStringConvertible {
    /// No file of the directory is the named sender's.
    case noFiles(host: String, String)
    /// Anchors of one log came from the files of more than one sender.
    case anchorsFromSeveralHosts(logID: String, [String])

    /// A message for people.
    package var description: String {
        switch self {
        case .noFiles(let host, let directory):
            "no journal files from host \(host) in \(directory) (systemd-journal-remote names them remote-\(host).journal)"
        case .anchorsFromSeveralHosts(let logID, let hosts):
            "anchors of log \(logID) come from several hosts (\(hosts.joined(separator: ", "))): one wrote the "
                + "other's log id; name the log's host with --host"
        }
    }
}

/// Where a record stands in a merge of many hosts' records: by when it was received, then by
/// host, then by seq.
struct MergeKey: Comparable {
    let received: Date
    let host: String
    let seq: Int64

    init(_ record: WireRecord) {
        received = record.received
        host = record.host ?? ""
        seq = record.seq
    }

    static func < (one: MergeKey, other: MergeKey) -> Bool {
        (one.received, one.host, one.seq) < (other.received, other.host, other.seq)
    }
}

/// The next element of each of many streams, read ahead, given out the earliest received first
/// (``MergeKey``; a tie goes to the stream first put): the merge of many hosts' records, one call's
/// (``JournalHistory``) or kept across calls (``FleetRecordFeed``). Each key is taken once, when
/// its element is put: choosing compares keys alone, never copying a record (with 100 hosts,
/// copies were most of a merge's time).
struct MergeHeads<Stream: Hashable, Element> {
    /// Each stream's slot in the arrays below, given when it is first put.
    private var slots: [Stream: Int] = [:]
    /// Per slot: the stream, and its head's key when one is held. Choosing scans this alone.
    private var keys: [(stream: Stream, key: MergeKey?)] = []
    private var elements: [Element?] = []

    /// Whether `stream`'s next element is read ahead.
    func holds(_ stream: Stream) -> Bool { slots[stream].map { keys[$0].key != nil } ?? false }

    /// Holds `element`, at `key`, as `stream`'s next.
    mutating func put(_ element: Element, _ key: MergeKey, of stream: Stream) {
        let slot: Int
        if let known = slots[stream] {
            slot = known
        } else {
            slot = keys.count
            slots[stream] = slot
            keys.append((stream, nil))
            elements.append(nil)
        }
        keys[slot].key = key
        elements[slot] = element
    }

    /// Takes out the earliest head (the latest, if not `forward`), with its stream; `nil` when none
    /// is held.
    mutating func popFirst(forward: Bool = true) -> (stream: Stream, element: Element)? {
        var chosen: Int?
        for slot in keys.indices {
            guard let key = keys[slot].key else { continue }
            // Strictly earlier (later): a tie keeps the stream put first.
            if let best = chosen, let bestKey = keys[best].key, forward ? !(key < bestKey) : !(bestKey < key) {
                continue
            }
            chosen = slot
        }
        guard let chosen, let element = elements[chosen] else { return nil }
        keys[chosen].key = nil
        elements[chosen] = nil
        return (keys[chosen].stream, element)
    }
}
