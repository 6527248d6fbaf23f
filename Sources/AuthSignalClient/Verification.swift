package import AuditJournal
import AuditStore
import AuthSignalProtocol
import Foundation
import Systemd

/// What `verify` found: the chain walk's verdict plus what the journal anchors said.
package struct Verification: Sendable {
    /// Records whose hash and link were checked.
    package var checked: Int
    /// The first bad seq and why, if anything is wrong.
    package var problem: (seq: Int64, description: String)?
    /// Anchors of this log found in the journal.
    package var anchorsFound = 0
    /// The newest anchor compared with the log, if any.
    package var latestAnchor: Int64?
    /// The host the anchors came from, in a collector's journal files.
    package var anchorHost: String?
    /// The audit log's identity (`nil` for a log written before identities existed).
    package var logID: String?

    /// Whether the log is intact.
    package var valid: Bool { problem == nil }
}

/// Checks audit logs: offline, straight from a database file, or through the daemon; both with
/// the chain anchors the daemon wrote to the journal when a journal is given.
package enum Verifier {
    /// Walks the chain of the database file at `path`, read-only, and compares it with every
    /// anchor of the same log in `journal`: an anchor with another hash is a rewritten chain, an
    /// anchor past the end a truncated log.
    package static func verify(
        database path: String, from: Int64?, to: Int64?, journal: JournalHistory?
    ) async throws -> Verification {
        let log = try ReadOnlyAuditLog(path: path)
        defer { try? log.close() }
        var anchors: [ChainHead] = []
        var anchorHost: String?
        if let journal, let logID = log.logID {
            let found = try journal.anchors(logID: logID)
            anchorHost = found.first?.host
            anchors = found.map { ChainHead(seq: $0.seq, hash: Data($0.hash)) }
            if let from { anchors.removeAll { $0.seq < from } }
            if let to { anchors.removeAll { $0.seq > to } }
        }
        let report = try await log.verify(from: from, to: to, anchors: anchors)
        var result = Verification(checked: report.checked, logID: log.logID)
        result.anchorHost = anchorHost
        result.anchorsFound = anchors.count
        result.latestAnchor = anchors.map(\.seq).max()
        if let problem = report.problem { result.problem = (problem.seq, problem.description) }
        return result
    }

    /// Asks the daemon to walk the chain, then compares the newest journal anchor of its log
    /// within the range with the record the daemon holds at that seq. The walk proves every link
    /// up to the end, so the newest anchor is the one that catches a chain rewritten (or cut)
    /// before it.
    package static func verify(
        daemon: DaemonConnection, from: Int64?, to: Int64?, journal: JournalHistory?
    ) throws -> Verification {
        let answer = try daemon.request(.verify(from: from, to: to), as: VerifyAnswer.self)
        var result = Verification(checked: answer.checked)
        if let problem = answer.problem {
            result.problem = (problem.seq, problem.description)
            return result
        }
        guard let journal else { return result }
        let stats = try daemon.request(.stats, as: StatsAnswer.self).log
        guard let logID = stats.logID else { return result }
        result.logID = logID
        let firstSeq = stats.firstSeq ?? 1
        let lastSeq = stats.lastSeq ?? 0
        // Anchors of pruned records cannot be compared; the store keeps its own pruning anchor.
        let found = try journal.anchors(logID: logID)
        result.anchorHost = found.first?.host
        let anchors = found.filter { anchor in
            anchor.seq >= max(from ?? firstSeq, firstSeq) && anchor.seq <= (to ?? Int64.max)
        }
        result.anchorsFound = anchors.count
        guard let newest = anchors.max(by: { $0.seq < $1.seq }) else { return result }
        result.latestAnchor = newest.seq
        if newest.seq > lastSeq {
            result.problem = (
                lastSeq + 1,
                ChainProblem(seq: lastSeq + 1, kind: .truncated(anchored: newest.seq)).description
            )
            return result
        }
        var stored: Data?
        _ = try daemon.request(
            .query(RecordFilter(afterSeq: newest.seq - 1, limit: 1)), as: CountAnswer.self
        ) { record in
            if record.seq == newest.seq { stored = record.hash }
        }
        if stored != Data(newest.hash) {
            result.problem = (newest.seq, ChainProblem(seq: newest.seq, kind: .anchorMismatch).description)
        }
        return result
    }
}
