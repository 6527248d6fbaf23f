import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDB
import Signals
import TestSupport
import Testing

@testable import AuditStore

@Suite("Audit store: retention")
struct RetentionTests {
    @Test func maximumRecordsPrunesOldestInBatchesAndTheChainStillVerifies() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var options = StoreOptions()
        options.maximumRecords = 500
        options.indexMergeThreshold = 100
        let store = try AuditStore(path: path, options: options)
        try await store.fill(2_700)
        let deletedSeqs = Collected<Int64>()
        let pre = preDelete.connect(sender: AuditStore.recordSender) { _, deletion in
            if deletion.using == path { deletedSeqs.add(deletion.instance(as: AuditRecord.self)!.seq) }
        }
        let post = postDelete.connect(sender: AuditStore.recordSender) { _, deletion in
            if deletion.using == path { deletedSeqs.add(-deletion.instance(as: AuditRecord.self)!.seq) }
        }
        defer {
            pre.disconnect()
            post.disconnect()
        }

        let result = try await store.prune()

        #expect(result.deleted == 2_200)
        #expect(result.transactions == 3)  // 1,000 + 1,000 + 200: never one huge DELETE
        let remaining = try await store.all()
        #expect(remaining.map(\.seq) == Array(2_201...2_700))
        #expect(deletedSeqs.values.filter { $0 > 0 } == Array(1...2_200))
        #expect(deletedSeqs.values.filter { $0 < 0 }.count == 2_200)
        let report = try await store.verify()
        #expect(report.ok)
        #expect(report.first == 2_201)
        // New records continue the chain; seqs are never reused.
        #expect(try await store.append(Events.make()).seq == 2_701)
        #expect(try await store.verify().ok)
        // Index entries of pruned records are gone as well.
        let stale = try await store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM records_by_user WHERE seq <= 2200")
        }
        #expect(stale == 0)
        #expect(try await store.prune().deleted == 1)
    }

    @Test func maximumAgePrunesOlderRecordsAndAnEmptiedLogNeverReusesSeqs() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var options = StoreOptions()
        options.maximumAge = .seconds(3600)
        do {
            let store = try AuditStore(path: path, options: options)
            try await store.fill(30)
            #expect(try await store.prune().deleted == 0)
            // An hour and a bit later everything is too old.
            let result = try await store.prune(now: Date().addingTimeInterval(3_700))
            #expect(result.deleted == 30)
            #expect(try await store.all().isEmpty)
            #expect(try await store.verify().ok)
            try await store.close()
        }
        let reopened = try AuditStore(path: path, options: options)
        #expect(try await reopened.append(Events.make()).seq == 31)
        #expect(try await reopened.verify().ok)
    }

    @Test func deletingBelowTheAnchorIsReportedAsTampering() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var options = StoreOptions()
        options.maximumRecords = 5
        let store = try AuditStore(path: path, options: options)
        try await store.fill(10)
        try await store.prune()
        try tamper(path, "DELETE FROM records WHERE seq = 6")
        #expect(try await store.verify().problem == ChainProblem(seq: 6, kind: .deleted(through: 6)))
    }
}
