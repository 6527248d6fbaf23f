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
    package func hostStatuses() throws -> [HostStatus]? {
        try namedSenders?.map { sender, paths in try status(of: sender, in: JournalReader(files: paths)) }
    }

    private func status(of host: String, in reader: JournalReader) throws -> HostStatus {
        var status = HostStatus(host: host)
        try reader.matchAuditRecords(user: nil, sender: nil, remoteAddr: nil, writer: writer)
        reader.seekTail()
        while let fields = try reader.previous() {
            guard let written = reader.realtime,
                let record = AuditJournal.record(fromEntry: fields, written: written, writer: writer)
            else { continue }
            status.lastRecord = (HostStatus.Written(seq: record.seq, written: written), record.received)
            break
        }
        try reader.matchAnchors(logID: nil, writer: writer)
        reader.seekHead()
        // Per log: the highest seq anchored so far, and each seq's hash.
        var highest: [String: Int64] = [:]
        var hashes: [String: [Int64: [UInt8]]] = [:]
        while let fields = try reader.next() {
            guard let anchor = AuditJournal.anchor(fromEntry: fields, writer: writer), let written = reader.realtime
            else { continue }
            status.anchors += 1
            status.lastAnchor = (HostStatus.Written(seq: anchor.seq, written: written), anchor.logID)
            let log = anchor.logID ?? ""
            status.logs.insert(log)
            let name = anchor.logID.map { "log \($0)" } ?? "the log"
            if let known = hashes[log]?[anchor.seq], known != anchor.hash {
                status.problems.append("\(name): record \(anchor.seq) anchored with two different hashes")
            } else if let top = highest[log], anchor.seq < top {
                status.problems.append("\(name): record \(anchor.seq) anchored after record \(top): the log went back")
            }
            hashes[log, default: [:]][anchor.seq] = anchor.hash
            highest[log] = max(highest[log] ?? anchor.seq, anchor.seq)
        }
        return status
    }
}
