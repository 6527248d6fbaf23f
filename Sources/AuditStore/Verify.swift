import Crypto
import Foundation
import GRDB
import GRDBSQLite

/// What is wrong at the first bad place of the chain.
package struct ChainProblem: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of damage verify tells apart.
    package enum Kind: Sendable, Hashable {
        /// The record's content does not match its hash: a field was edited.
        case edited
        /// Records `seq` through `through` are missing: deleted.
        case deleted(through: Int64)
        /// The record does not follow the one before it (its `prev_hash` is not that record's
        /// hash): a record was inserted before it, or records were reordered.
        case brokenLink
        /// An external anchor (journal) names a different hash for this seq.
        case anchorMismatch
        /// The log ends before seq `anchored`, which an external anchor recorded: truncated.
        case truncated(anchored: Int64)
    }

    /// The first bad seq.
    package let seq: Int64
    /// What is wrong there.
    package let kind: Kind

    /// A problem at `seq`.
    package init(seq: Int64, kind: Kind) {
        self.seq = seq
        self.kind = kind
    }

    /// A sentence for people.
    package var description: String {
        switch kind {
        case .edited: "record \(seq) was modified: its content does not match its hash"
        case .deleted(let through):
            through == seq ? "record \(seq) was deleted" : "records \(seq)–\(through) were deleted"
        case .brokenLink:
            "record \(seq) does not follow record \(seq - 1): a record was inserted before it or records were reordered"
        case .anchorMismatch: "record \(seq) differs from the hash anchored in the journal"
        case .truncated(let anchored):
            "the log was truncated: it ends at record \(seq - 1) but the journal anchored record \(anchored)"
        }
    }
}

/// The outcome of ``AuditStore/verify(from:to:anchors:)``.
package struct VerifyReport: Sendable, Hashable {
    /// How many records were checked.
    package var checked: Int
    /// The first and last seq checked.
    package var first: Int64?
    /// The last seq checked.
    package var last: Int64?
    /// The first problem found, if any (verification stops there).
    package var problem: ChainProblem?

    /// Whether the chain verified.
    package var ok: Bool { problem == nil }
}

extension AuditStore {
    /// Walks the hash chain from `from` to `to` (both inclusive; the whole log by default) and
    /// reports the first bad seq and what is wrong: an edited field, deleted records, an
    /// inserted record or reordering. `anchors` (seq and hash, as written to the journal) also
    /// detect truncation and a rewritten chain.
    package func verify(from: Int64? = nil, to: Int64? = nil, anchors: [ChainHead] = []) async throws -> VerifyReport {
        try await Self.verify(
            pool, from: from, to: to, anchors: anchors, parallelThreshold: options.parallelVerifyThreshold)
    }

    /// ``verify(from:to:anchors:)`` over any reader of an audit log (the store's pool, or a
    /// ``ReadOnlyAuditLog``).
    static func verify(
        _ reader: any DatabaseReader, from: Int64?, to: Int64?, anchors: [ChainHead], parallelThreshold: Int
    ) async throws -> VerifyReport {
        // Long chains are checked in parallel segments, one per core. Each segment checks that its
        // first record follows the stored hash of the record before it, and the segment before
        // checks that hash, so the segments together check every link.
        let bounds: (low: Int64, high: Int64)? = try await reader.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT min(seq), max(seq) FROM records")
            guard let row, let low = row[0] as Int64?, let high = row[1] as Int64? else { return nil }
            return (low, high)
        }
        let parts = Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, Self.maximumVerifySegments))
        let start: Int64 = Swift.max(from ?? (bounds?.low ?? 0), bounds?.low ?? 0)
        let end: Int64 = Swift.min(to ?? (bounds?.high ?? 0), bounds?.high ?? 0)
        guard bounds != nil, parts > 1, end - start + 1 >= Int64(parallelThreshold) else {
            return try await reader.read { db in try ChainVerifier.verify(db, from: from, to: to, anchors: anchors) }
        }
        let count = Int64(parts)
        let size: Int64 = (end - start + count) / count
        var segments: [(Int64?, Int64?)] = []
        for index in 0..<count {
            let first: Int64 = start + index * size
            let last: Int64? = index == count - 1 ? to : Swift.min(first + size - 1, end)
            segments.append((index == 0 ? from : first, last))
        }
        let reports = try await withThrowingTaskGroup(of: (Int, VerifyReport).self) { group in
            for (index, segment) in segments.enumerated() {
                group.addTask {
                    let report = try await reader.read { db in
                        try ChainVerifier.verify(db, from: segment.0, to: segment.1, anchors: anchors)
                    }
                    return (index, report)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        var combined = VerifyReport(checked: 0)
        for index in segments.indices {
            let report = reports[index]!
            combined.checked += report.checked
            combined.first = combined.first ?? report.first
            combined.last = report.last ?? combined.last
            if let problem = report.problem {
                combined.problem = problem
                break
            }
        }
        return combined
    }

    /// The most segments verified at once (the store has four reader connections).
    static var maximumVerifySegments: Int { 4 }
}

/// The chain walk, over SQLite's C API: it is the hot loop of `verify` (millions of records).
enum ChainVerifier {
    static func verify(_ db: Database, from: Int64?, to: Int64?, anchors: [ChainHead]) throws -> VerifyReport {
        let pruned = try Schema.prunedAnchor(db)
        let floor = (pruned?.seq ?? 0) + 1
        let start = max(from ?? floor, floor)
        var expectedSeq = start
        var previousHash: Data
        if start == floor {
            previousHash = pruned?.hash ?? ChainHead.genesis.hash
        } else if let hash = try Data.fetchOne(
            db, sql: "SELECT hash FROM records WHERE seq = ?", arguments: [start - 1])
        {
            previousHash = hash
        } else {
            return VerifyReport(checked: 0, problem: ChainProblem(seq: start - 1, kind: .deleted(through: start - 1)))
        }
        let anchorsBySeq = Dictionary(anchors.map { ($0.seq, $0.hash) }, uniquingKeysWith: { first, _ in first })
        var report = VerifyReport(checked: 0)
        let statement = try db.makeStatement(
            sql: "SELECT \(RecordLayout.selectList()) FROM records WHERE seq >= ? AND seq <= ? ORDER BY seq")
        try statement.setArguments([start, to ?? Int64.max])
        let handle = statement.sqliteStatement
        var buffer = [UInt8]()
        buffer.reserveCapacity(1024)
        // The previous record's hash, reused without allocating per record.
        var previous = [UInt8](previousHash)
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
            let seq = sqlite3_column_int64(handle, 0)  // seq is the first column of the layout
            report.first = report.first ?? seq
            if seq != expectedSeq {
                report.problem = ChainProblem(seq: expectedSeq, kind: .deleted(through: seq - 1))
                return report
            }
            let row = StatementRow(handle: handle)
            let prevHash = row.blob(at: RecordLayout.prevHashIndex)
            let storedHash = row.blob(at: RecordLayout.hashIndex)
            guard previous.elementsEqual(prevHash) else {
                report.problem = ChainProblem(seq: seq, kind: .brokenLink)
                return report
            }
            // One buffer, one one-shot hash: prev_hash ‖ encoding.
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: prevHash)
            RecordHash.encode(row, into: &buffer)
            let matches = buffer.withUnsafeBytes { SHA256.hash(data: $0) }.withUnsafeBytes {
                $0.elementsEqual(storedHash)
            }
            guard matches else {
                report.problem = ChainProblem(seq: seq, kind: .edited)
                return report
            }
            if let anchored = anchorsBySeq[seq], !anchored.elementsEqual(storedHash) {
                report.problem = ChainProblem(seq: seq, kind: .anchorMismatch)
                return report
            }
            if previous.count == storedHash.count {
                previous.withUnsafeMutableBytes { $0.copyMemory(from: storedHash) }
            } else {
                previous = [UInt8](storedHash)
            }
            report.checked += 1
            report.last = seq
            expectedSeq = seq + 1
        }
        if to == nil, let latest = anchors.map(\.seq).max(), latest >= expectedSeq {
            report.problem = ChainProblem(seq: expectedSeq, kind: .truncated(anchored: latest))
        }
        return report
    }
}
