import AuthSignalCore
import Foundation
import GRDB
import Testing

@testable import AuditStore

@Suite("Audit store: queries and stats")
struct QueryTests {
    /// 60 records: users u0–u4, signals cycling, senders sshd/login, addresses a0–a2.
    static func populated() async throws -> (TemporaryDirectory, AuditStore) {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
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
        ]
        for filter in filters {
            let expected = all.filter(filter.matches).map(\.seq)
            #expect(try await store.all(filter).map(\.seq) == expected, "\(filter)")
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
                    guard let (sql, arguments) = try query.pageSQL(db, size: 10) else { return ["no query"] }
                    return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map {
                        $0["detail"]
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
