import AuthSignalProtocol
package import Foundation
import Systemd

/// What a collector holds of one host's audit entries (`authsignal fleet status`, docs/fleet.md):
/// whether its records keep arriving (PCI DSS 10.3.3, promptly backed up) and whether its
/// logging failed or its log was tampered with (10.7.2).
package struct HostStatus: Sendable {
    /// An entry the host's daemon wrote: a record's or an anchor's seq, and when it was written.
    package struct Written: Sendable {
        package var seq: Int64
        package var written: Date
    }

    /// The sender, as the collector names its files.
    package var host: String
    /// The newest record, with when it was received.
    package var lastRecord: (entry: Written, received: Date)?
    /// The newest chain anchor, with its log.
    package var lastAnchor: (entry: Written, logID: String?)?
    /// How many anchors the files hold.
    package var anchors = 0
    /// The audit logs they anchor (more than one: the host's log was made anew).
    package var logs: Set<String> = []
    /// What the anchors disagree on, a sentence each: a record anchored with two hashes (its chain
    /// was rewritten), or an anchor below an earlier one of the same log (the log went back).
    package var problems: [String] = []

    /// When the host's daemon was last heard from: its newest record or anchor (the daemon
    /// anchors its head again every `AnchorHeartbeatSec` while no record comes).
    package var heard: Date? {
        [lastRecord?.entry.written, lastAnchor?.entry.written].compactMap { $0 }.max()
    }

    /// Whether nothing was heard from it within `allowed` before `now`.
    package func isSilent(now: Date, allowed: TimeInterval) -> Bool {
        heard.map { now.timeIntervalSince($0) > allowed } ?? true
    }
}

extension JournalHistory {
    /// Each sender's status, in name order; `nil` when this is not a collector's directory of
    /// files named by sender.
    package func hostStatuses() throws -> [HostStatus]? { try FleetStatusWatch().statuses(of: self) }
}

/// The statuses of a collector's hosts, kept across looks: each look reads a host's newest record
/// and only the anchors written since the last look (the alert service looks every 30 s).
///
/// What it keeps per host to tell disagreeing anchors: each log's highest anchored seq and, per
/// anchored seq, 8 bytes of its hash (40-odd bytes of memory an anchor). Not `Sendable`.
package final class FleetStatusWatch {
    private struct Host {
        var status: HostStatus
        var highest: [String: Int64] = [:]
        var hashes: [String: [Int64: UInt64]] = [:]
        /// The cursor of the last anchor read.
        var cursor: String?
    }

    private var hosts: [String: Host] = [:]

    package init() {}

    /// Each sender's status in `journal` now, in name order; `nil` when it is not a collector's
    /// directory of files named by sender.
    package func statuses(of journal: JournalHistory) throws -> [HostStatus]? {
        guard let senders = journal.namedSenders else { return nil }
        var statuses: [HostStatus] = []
        for (sender, paths) in senders {
            var host = hosts[sender] ?? Host(status: HostStatus(host: sender))
            try Self.look(at: JournalReader(files: paths), writer: journal.writer, into: &host)
            hosts[sender] = host
            statuses.append(host.status)
        }
        return statuses
    }

    private static func look(at reader: JournalReader, writer: TrustedJournalWriter, into host: inout Host) throws {
        try reader.matchAuditRecords(user: nil, sender: nil, remoteAddr: nil, writer: writer)
        reader.seekTail()
        while let fields = try reader.previous() {
            guard let written = reader.realtime,
                let record = AuditJournal.record(fromEntry: fields, written: written, writer: writer)
            else { continue }
            host.status.lastRecord = (HostStatus.Written(seq: record.seq, written: written), record.received)
            break
        }
        try reader.matchAnchors(logID: nil, writer: writer)
        var resumed = host.cursor
        if let cursor = resumed { try reader.seek(cursor: cursor) } else { reader.seekHead() }
        while let fields = try reader.next() {
            // After a seek to a cursor, the first entry is the one there, read at the last look.
            if let cursor = resumed {
                resumed = nil
                if reader.isAt(cursor: cursor) { continue }
            }
            guard let anchor = AuditJournal.anchor(fromEntry: fields, writer: writer), let written = reader.realtime
            else { continue }
            host.cursor = reader.cursor
            host.status.anchors += 1
            host.status.lastAnchor = (HostStatus.Written(seq: anchor.seq, written: written), anchor.logID)
            let log = anchor.logID ?? ""
            host.status.logs.insert(log)
            let name = anchor.logID.map { "log \($0)" } ?? "the log"
            let digest = anchor.hash.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if let known = host.hashes[log]?[anchor.seq], known != digest {
                host.status.problems.append("\(name): record \(anchor.seq) anchored with two different hashes")
            } else if let top = host.highest[log], anchor.seq < top {
                host.status.problems.append(
                    "\(name): record \(anchor.seq) anchored after record \(top): the log went back")
            }
            host.hashes[log, default: [:]][anchor.seq] = digest
            host.highest[log] = max(host.highest[log] ?? anchor.seq, anchor.seq)
        }
    }
}
