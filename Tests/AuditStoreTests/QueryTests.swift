import AuthSignalProtocol
import Foundation
import GRDB
import TestSupport
import Testing

@testable import AuditStore

@Suite("Audit store: queries and stats")
struct QueryTests {
    /// 60 records: users u0–u4, signals cycling, senders sshd/login, addresses a0–a2. The user
    /// and address indexes are merged every 25 records and never when idle, so records 1–50 are
    /// found through them and 51–60 by seq range: queries must combine both.
    static func populated() async throws -> (TemporaryDirectory, AuditStore) {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.indexMergeThreshold = 25
        options.indexIdleDelay = .seconds(3600)
        let store = try AuditStore(path: directory.file("audit.db"), options: options)
        for index in 0..<60 {
            try await store.append(
                Events.make(
                    AuthSignal.allCases[index % 3], user: "u\(index % 5)", sender: index % 2 == 0 ? "sshd" : "login",
                    address: "198.51.100.\(index % 3)"))
        }
        return (directory, store)
    }

    @Test func eachFilterSelectsExactlyTheMatchingRecordsInOrder() async throws {
        let (directory, store) = try await Self.populated()
        _ = directory
        let indexed = try await store.pool.read { db in try Schema.indexedThrough(db) }
        #expect(indexed == 50)
        let all = try await store.all()
        #expect(all.count == 60)
        let filters: [RecordFilter] = [
            RecordFilter(user: "u3"),
            RecordFilter(signal: .userLoginFailed),
            RecordFilter(sender: "login"),
            RecordFilter(remoteAddr: "198.51.100.2"),
            RecordFilter(afterSeq: 50),
            RecordFilter(user: "u1", signal: .userLoggedIn, sender: "sshd"),
            RecordFilter(user: "nobody"),
            RecordFilter(signal: .userLoggedOut, remoteAddr: "198.51.100.0"),
            RecordFilter(user: "u2", afterSeq: 45),
        ]
        for filter in filters {
            let expected = all.filter(filter.matches).map(\.seq)
            #expect(try await store.all(filter).map(\.seq) == expected, "\(filter)")
            var newestFirst = filter
            newestFirst.order = .descending
            #expect(try await store.all(newestFirst).map(\.seq) == expected.reversed(), "\(newestFirst)")
            newestFirst.limit = 3
            #expect(try await store.all(newestFirst).map(\.seq) == Array(expected.reversed().prefix(3)))
        }
        #expect(try await store.all(RecordFilter(user: "u3")).count == 12)
    }

    @Test func limitAndDescendingOrderPageCorrectly() async throws {
        let (directory, store) = try await Self.populated()
        _ = directory
        let newest = try await store.all(RecordFilter(limit: 10, order: .descending))
        #expect(newest.map(\.seq) == Array((51...60).reversed()))
        let failed = try await store.all(RecordFilter(signal: .userLoginFailed, limit: 9))
        #expect(failed.map(\.seq) == [3, 6, 9, 12, 15, 18, 21, 24, 27])
        #expect(try await store.all(RecordFilter(limit: 0)).isEmpty)
    }

    @Test func sinceAndUntilSelectByReceivedTime() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        try await store.fill(5)
        try await Task.sleep(for: .milliseconds(30))
        let middle = Date()
        try await Task.sleep(for: .milliseconds(30))
        try await store.fill(3)
        #expect(try await store.all(RecordFilter(since: middle)).map(\.seq) == [6, 7, 8])
        #expect(try await store.all(RecordFilter(until: middle)).map(\.seq) == [1, 2, 3, 4, 5])
        #expect(try await store.all(RecordFilter(since: Date().addingTimeInterval(60))).isEmpty)
        #expect(try await store.all(RecordFilter(until: Date(timeIntervalSince1970: 0))).isEmpty)
    }

    @Test func everyFilterIsServedByAnIndexNeverAFullScan() async throws {
        let (directory, store) = try await Self.populated()
        _ = directory
        let filters: [(String, RecordFilter)] = [
            ("user", RecordFilter(user: "u1")),
            ("signal", RecordFilter(signal: .userLoggedOut)),
            ("sender", RecordFilter(sender: "sshd")),
            ("remote_addr", RecordFilter(remoteAddr: "198.51.100.1")),
            ("since", RecordFilter(since: Date(timeIntervalSince1970: 0))),
            ("until", RecordFilter(until: Date())),
            ("after_seq", RecordFilter(afterSeq: 10)),
            (
                "user, signal and time",
                RecordFilter(user: "u1", signal: .userLoginFailed, since: Date(timeIntervalSince1970: 0))
            ),
        ]
        for (name, filter) in filters {
            for order in RecordFilter.Order.allCases {
                var ordered = filter
                ordered.order = order
                let query = ordered
                let plan = try await store.pool.read { db -> [String] in
                    var query = RecordQuery(filter: query)
                    query.advance(past: order == .ascending ? 0 : 1_000, count: 0)
                    let statements = try query.statements(db, size: 10)
                    if statements.isEmpty { return ["no statement"] }
                    return try statements.flatMap { sql, arguments in
                        try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map {
                            $0["detail"] as String
                        }
                    }
                }
                #expect(!plan.contains { $0.hasPrefix("SCAN") }, "\(name) \(order): \(plan)")
                #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(name) \(order) sorts: \(plan)")
            }
        }
        // The seq bounds for since/until are found through the received index.
        let boundPlan = try await store.pool.read { db in
            try Row.fetchAll(
                db,
                sql: "EXPLAIN QUERY PLAN SELECT seq FROM records WHERE received >= ? ORDER BY received, seq LIMIT 1",
                arguments: [0]
            ).map { $0["detail"] as String }
        }
        #expect(boundPlan.allSatisfy { $0.contains("records_received") }, "\(boundPlan)")
    }

    @Test func anIdleWriterIndexesEveryRecordInBulk() async throws {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.indexIdleDelay = .milliseconds(20)
        let store = try AuditStore(path: directory.file("audit.db"), options: options)
        try await store.fill(300) { index in Events.make(user: "u\(index % 7)", address: "192.0.2.\(index % 11)") }
        try await Task.sleep(for: .milliseconds(300))
        let (indexed, users, addresses) = try await store.pool.read { db in
            (
                try Schema.indexedThrough(db),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM records_by_user") ?? -1,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM records_by_address") ?? -1
            )
        }
        #expect(indexed == 300)
        #expect(users == 300 && addresses == 300)
        #expect(store.writer.merger.merges >= 1 && store.writer.merger.merges < 300)
        #expect(try await store.all(RecordFilter(user: "u3")).count == 43)
    }

    /// A backlog is merged in steps of `indexMergeStep` records, each its own transaction with
    /// commits between them, and every record ends up indexed and in the sessions.
    @Test func aLongBacklogIsMergedInSteps() async throws {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.indexMergeThreshold = 40
        options.indexMergeStep = 16
        options.indexIdleDelay = .seconds(3600)
        // The events' sender (uid 1000) counts towards sessions only when trusted.
        options.trustedSenders = TrustedSenders(uids: [Events.peer.uid])
        let store = try AuditStore(path: directory.file("audit.db"), options: options)
        try await store.fill(200) { index in
            Events.make(index % 2 == 0 ? .userLoggedIn : .userLoginFailed, user: "u\(index % 7)")
        }
        let before = try await store.pool.read { db in try Schema.indexedThrough(db) }
        let mergesBefore = store.writer.merger.merges
        // Commits merged at most a step each: some records still wait.
        #expect(before < 200)
        await store.indexPendingRecords()
        // At most 16 records per merge: at least this many merges to catch up.
        #expect(store.writer.merger.merges - mergesBefore >= Int(200 - before + 15) / 16)
        let (indexed, users, sessions) = try await store.pool.read { db in
            (
                try Schema.indexedThrough(db),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM records_by_user") ?? -1,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? -1
            )
        }
        #expect(indexed == 200 && users == 200 && sessions == 100)
        #expect(try await store.all(RecordFilter(user: "u3")).count == 29)
        try await store.close()
    }

    /// Streaming writes each record's line from its columns and copies the stored JSON: the
    /// bytes must be those of reading the record and writing its line, for every filter shape
    /// (through the indexes and by seq range, either order, with a limit).
    @Test func recordLinesAreTheLinesOfTheRecords() async throws {
        let (directory, store) = try await Self.populated()
        _ = directory
        for filter in [
            RecordFilter(), RecordFilter(user: "u3"), RecordFilter(signal: .userLoginFailed, order: .descending),
            RecordFilter(remoteAddr: "198.51.100.2", limit: 7),
        ] {
            var expected: [UInt8] = []
            for record in try await store.all(filter) { record.wire.appendLine(to: &expected) }
            var streamed: [UInt8] = []
            let count = try await store.recordLines(matching: filter, pageSize: 4) { streamed += $0 }
            #expect(streamed == expected, "\(filter)")
            #expect(count == expected.filter { $0 == UInt8(ascii: "\n") }.count)
        }
    }

    /// A stored value that is not a JSON object (a damaged or edited file) is refused, never
    /// copied into a line.
    @Test func recordLinesRefuseAStoredValueThatIsNotAnObject() async throws {
        let (directory, store) = try await Self.populated()
        try tamper(directory.file("audit.db"), #"UPDATE records SET request = '{"tty":"pts/0"' WHERE seq = 7"#)
        await #expect(throws: StoreError.self) {
            _ = try await store.recordLines(matching: RecordFilter()) { _ in }
        }
    }

    @Test func statsCountPerSignalAndReportBounds() async throws {
        let (directory, store) = try await Self.populated()
        _ = directory
        let stats = try await store.stats()
        #expect(stats.total == 60)
        #expect(stats.perSignal == [.userLoggedIn: 20, .userLoggedOut: 20, .userLoginFailed: 20])
        #expect(stats.firstSeq == 1)
        #expect(stats.lastSeq == 60)
        #expect(stats.firstReceived! <= stats.lastReceived!)
        #expect(stats.databaseBytes > 0)
        #expect(stats.committedTransactions == 60)
    }
}
