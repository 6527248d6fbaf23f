import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDB
import Signals
import Synchronization
import TestSupport
import Testing

@testable import AuditStore

@Suite("Audit store: opening, appending, signals")
struct StoreBasicsTests {
    @Test func writerUsesWALAndSynchronousFull() throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        let (mode, synchronous) = try store.pool.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(mode == "wal")
        #expect(synchronous == 2)  // FULL
    }

    @Test func migrationsSendPreAndPostMigrateWithThePlanOnlyWhenPending() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let seen = Collected<String>()
        let pre = preMigrate.connect { _, migration in
            if migration.using == path { seen.add("pre \(migration.plan)") }
        }
        let post = postMigrate.connect { _, migration in
            if migration.using == path { seen.add("post \(migration.plan)") }
        }
        defer {
            pre.disconnect()
            post.disconnect()
        }
        let first = try AuditStore(path: path)
        let second = try AuditStore(path: path)
        let plan =
            #"["v1-records", "v2-log-identity", "v3-sessions-accounts", "v4-trusted-activity", "v5-verdicts", "v6-verdicts-pending", "v7-short-sessions"]"#
        #expect(seen.values == ["pre \(plan)", "post \(plan)", "pre []", "post []"])
        // The log's identity is made once, by the migration, and kept.
        #expect(first.logID.count == 32 && first.logID == second.logID)
    }

    @Test func connectionCreatedIsSentForEveryConnectionAndReceiversCanSetPragmas() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let seen = Collected<Bool>()
        let connection = connectionCreated.connect(sender: AuditStore.sender) { _, created in
            guard created.path == path else { return }
            seen.add(created.isWriter)
            try created.connection.execute("PRAGMA temp_store = MEMORY")
        }
        defer { connection.disconnect() }
        let store = try AuditStore(path: path)
        _ = try await store.stats()
        #expect(seen.values.contains(true))
        #expect(seen.values.contains(false))
        let tempStore = try await store.pool.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA temp_store")
        }
        #expect(tempStore == 2)  // MEMORY, set by the receiver
    }

    @Test func filesAreCreatedReadableByTheOwnerOnly() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let store = try AuditStore(path: path)
        try await store.append(Events.make())
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
    }

    /// A log whose files were left readable by others (a copy, an older version, another tool)
    /// is tightened when opened, its -wal and -shm included; a -wal that is not a file is refused.
    @Test func looseModesOfExistingFilesAreTightened() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let store = try AuditStore(path: path)
        try await store.append(Events.make())
        let copy = directory.file("copy.db")
        for suffix in ["", "-wal", "-shm"] {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
            chmod(copy + suffix, 0o644)
        }
        try await store.close()
        let reopened = try AuditStore(path: copy)
        for file in [copy, copy + "-wal", copy + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
        try await reopened.close()
        let fifo = directory.file("fifo.db")
        _ = FileManager.default.createFile(atPath: fifo, contents: nil)
        mkfifo(fifo + "-wal", 0o600)
        #expect(throws: StoreError.notARegularFile(fifo + "-wal")) { try AuditStore(path: fifo) }
    }

    @Test func aDatabasePathThatIsASymlinkIsRefused() throws {
        let directory = try TemporaryDirectory()
        let target = directory.file("elsewhere.db")
        _ = FileManager.default.createFile(atPath: target, contents: nil)
        let link = directory.file("audit.db")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(throws: StoreError.symlink(link)) { try AuditStore(path: link) }
    }

    @Test func appendedRecordsAreDurableAndReadBackExactly() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let time = Date(timeIntervalSince1970: 1_790_000_000.123456)
        do {
            let store = try AuditStore(path: path)
            let first = try await store.append(Events.make(.userLoggedIn, user: "alice", time: time))
            let second = try await store.append(Events.make(.userLoginFailed, user: "bob", address: nil))
            #expect(first == Appended(seq: 1, duplicate: false))
            #expect(second == Appended(seq: 2, duplicate: false))
            try await store.close()
        }
        let store = try AuditStore(path: path)
        let records = try await store.all()
        #expect(records.map(\.seq) == [1, 2])
        #expect(records[0].signal == .userLoggedIn)
        #expect(records[0].user == "alice")
        #expect(records[0].remoteAddr == "203.0.113.9")
        #expect(abs(records[0].time!.timeIntervalSince(time)) < 0.000_002)
        #expect(records[0].peer == Events.peer)
        #expect(records[1].remoteAddr == nil)
        // The password never reached the file: only its keyed hash.
        #expect(records[1].credentials?["password"]?.stringValue?.hasPrefix("hmac-sha256:") == true)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.range(of: Data("hunter2".utf8)) == nil)
        #expect(records[1].prevHash == records[0].hash)
        #expect(store.chainHead() == ChainHead(seq: 2, hash: records[1].hash))
        #expect(try await store.append(Events.make()).seq == 3)
    }

    @Test func concurrentAppendsShareTransactionsAndGetDistinctContiguousSeqs() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        let seqs = try await store.fill(500)
        #expect(seqs == Array(1...500))
        #expect(store.committedTransactions < 500)
        #expect(try await store.verify().ok)
    }

    @Test func backPressureHoldsAppendersWhenTheQueueIsFullAndLosesNone() async throws {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.queueCapacity = 4
        options.maximumBatch = 2
        let store = try AuditStore(path: directory.file("audit.db"), options: options)
        let seqs = try await store.fill(300)
        #expect(seqs == Array(1...300))
        #expect(store.committedTransactions >= 150)  // never more than 2 per transaction
    }

    @Test func aRepeatedIdempotencyKeyReturnsTheFirstSeqAndStoresNothing() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        let first = try await store.append(Events.make(id: "9f1c2a"))
        try await store.append(Events.make(id: "other"))
        let again = try await store.append(Events.make(user: "changed", id: "9f1c2a"))
        #expect(first == Appended(seq: 1, duplicate: false))
        #expect(again == Appended(seq: 1, duplicate: true))
        // Duplicates inside one group commit, too.
        let together = try await store.fill(20) { _ in Events.make(id: "burst") }
        #expect(Set(together) == [3])
        #expect(try await store.all().count == 3)
    }

    /// Ids are compared as bytes, as SQLite's unique index does, inside a group commit too:
    /// "café" precomposed and decomposed are two ids (Swift's `==` calls them equal).
    @Test func idempotencyKeysDifferingInNormalisationAreTwoKeys() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        let forms = ["caf\u{E9}", "cafe\u{301}"]
        #expect(forms[0] == forms[1] && Array(forms[0].utf8) != Array(forms[1].utf8))
        let seqs = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
            for index in 0..<40 {
                group.addTask { (index % 2, try await store.append(Events.make(id: forms[index % 2])).seq) }
            }
            return try await group.reduce(into: [0: Set<Int64>(), 1: Set<Int64>()]) { $0[$1.0]?.insert($1.1) }
        }
        #expect(seqs[0]?.count == 1 && seqs[1]?.count == 1, "\(seqs)")
        #expect(seqs[0] != seqs[1])
        #expect(try await store.all().count == 2)
    }

    @Test func modelSignalsCarryTheRecordCreatedAndTheNewSeq() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let seen = Collected<String>()
        let connections = [
            preInit.connect(sender: AuditStore.recordSender) { _, _ in seen.add("pre_init") },
            postInit.connect(sender: AuditStore.recordSender) { _, payload in
                seen.add("post_init \(payload.instance(as: AuditRecord.self)!.seq)")
            },
            preSave.connect(sender: AuditStore.recordSender) { _, payload in
                if payload.using == path { seen.add("pre_save \(payload.instance(as: AuditRecord.self)!.seq)") }
            },
            postSave.connect(sender: AuditStore.recordSender) { _, payload in
                if payload.using == path {
                    seen.add("post_save \(payload.instance(as: AuditRecord.self)!.seq) created=\(payload.created)")
                }
            },
        ]
        defer { for connection in connections { connection.disconnect() } }
        let store = try AuditStore(path: path)
        try await store.append(Events.make())
        let mine = seen.values.filter { !$0.hasPrefix("pre_init") && !$0.hasPrefix("post_init") }
        #expect(mine == ["pre_save 1", "post_save 1 created=true"])
        #expect(seen.values.contains("post_init 1"))
    }
}

/// An append's ticket and the tasks that wait on it.
@Suite struct AppendTicketTests {
    /// Any number of tasks may await one append, and each is resumed: a second awaiter used to take
    /// the first one's place, which then never resumed.
    @Test func everyTaskAwaitingATicketIsResumed() async throws {
        let ticket = AppendTicket()
        let resumed = ResumedSeqs()
        // Not awaited: a waiter that is never resumed must fail this test, not hang it.
        for _ in 0..<3 {
            Task {
                let seq = try await ticket.value.seq
                resumed.seqs.withLock { $0.append(seq) }
            }
        }
        // They all wait before the outcome is known.
        try await Task.sleep(for: .milliseconds(200))
        ticket.complete(.success(Appended(seq: 7, duplicate: false)))
        let deadline = ContinuousClock.now + .seconds(10)
        while resumed.seqs.withLock({ $0.count }) < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(resumed.seqs.withLock { $0 } == [7, 7, 7])
    }

    /// The seqs the waiting tasks were resumed with.
    final class ResumedSeqs: Sendable {
        let seqs = Mutex<[Int64]>([])
    }
}
