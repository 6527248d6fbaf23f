package import AuthSignalProtocol
import Foundation

// The audit log's values in the protocol's types (AuthSignalCore encodes those; this module knows
// no JSON): what the daemon sends and what `--database` reads give the same records and totals.

extension AuditRecord: FilterableRecord {}

extension AuditRecord {
    /// The record as the protocol carries it.
    package var wire: WireRecord {
        WireRecord(
            seq: seq, received: received, time: time, signal: signal, sender: sender, user: user, request: request,
            credentials: credentials, peer: peer, hash: hash, verdicts: verdicts)
    }
}

extension StatsAnswer.Log {
    /// The audit log's part of a `stats` answer: its totals, chain head and identity.
    package init(_ stats: StoreStats, head: ChainHead, logID: String?) {
        self.init(
            records: stats.perSignal, firstSeq: stats.firstSeq, lastSeq: stats.lastSeq,
            databaseBytes: stats.databaseBytes, headSeq: head.seq, headHash: Array(head.hash), logID: logID)
    }
}
