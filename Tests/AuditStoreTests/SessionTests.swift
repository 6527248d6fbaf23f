import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDB
import TestSupport
import Testing

@testable import AuditStore

/// Sessions and accounts (`last`, `lastlog`): the pairing rule, gone sessions, the interval
/// index, and the unmerged tail read the same as the merged tables.
@Suite("Audit store: sessions and accounts")
struct SessionTests {
    static let epoch = Date(timeIntervalSince1970: 1_790_000_000)
    static func at(_ minutes: Double) -> Date { epoch.addingTimeInterval(minutes * 60) }

    /// The PAM hook's sender: root, which is always trusted.
    static let hook = PeerCredentials(uid: 0, gid: 0, pid: 4242)

    /// A login or logout with these request fields, at `minutes` after the epoch (or at `time`),
    /// from `peer`.
    static func event(
        _ signal: AuthSignal, _ user: String, at minutes: Double, key: String? = nil, tty: String = "pts/1",
        from address: String? = "192.0.2.7", sender: String = "sshd", peer: PeerCredentials = hook, time: Date? = nil
    ) -> RedactedEvent {
        var request: JSONObject = ["tty": .string(tty), "service": .string(sender)]
        if let key { request["pairing"] = .string(key) }
        if let address { request["remote_addr"] = .string(address) }
        return Events.redactor.redact(
            AuthEvent(
                signal: signal, sender: sender, user: user, request: request, credentials: nil,
                time: time ?? at(minutes),
                id: nil),
            peer: peer)
    }

    /// A history that adjacency would pair wrongly: alice's two sessions overlap and end in the
    /// opposite order; carol never logs out before boot B2; dave's program sends no keys; a
    /// logout whose login is not in the log.
    static let history: [RedactedEvent] = [
        event(.userLoggedIn, "alice", at: 0, key: "B1/10/sshd/pts/1"),
        event(.userLoggedIn, "alice", at: 1, key: "B1/11/sshd/pts/2", tty: "pts/2"),
        event(.userLoggedIn, "carol", at: 2, key: "B1/12/sshd/pts/3", tty: "pts/3"),
        event(.userLoginFailed, "bob", at: 3),
        event(.userLoggedOut, "alice", at: 4, key: "B1/10/sshd/pts/1"),
        event(.userLoggedIn, "dave", at: 5, tty: "tty1", from: nil, sender: "login"),
        event(.userLoggedOut, "erin", at: 6, key: "B1/99/sshd/pts/9"),
        event(.userLoggedOut, "dave", at: 7, tty: "tty1", from: nil, sender: "login"),
        event(.userLoggedOut, "alice", at: 8, key: "B1/11/sshd/pts/2", tty: "pts/2"),
        event(.userLoginFailed, "bob", at: 9),
        event(.userLoggedIn, "bob", at: 10, key: "B2/20/sshd/pts/1"),
        event(.userLoginFailed, "bob", at: 11),
        event(.userLoginFailed, "bob", at: 12),
        event(.userLoggedIn, "dave", at: 13, tty: "tty1", from: nil, sender: "login"),
    ]

    /// This host is in boot B2, which began at minute 9.5.
    static let context = BootContext(bootID: "B2", bootTime: Microseconds.from(at(9.5)))

    static func sessions(_ store: AuditStore, _ filter: SessionFilter = SessionFilter()) async throws -> [WireSession] {
        var found: [WireSession] = []
        _ = try await store.sessions(matching: filter, context: context) { found.append($0) }
        return found
    }

    static func summary(_ sessions: [WireSession]) -> [String] {
        sessions.map { session in
            let end = session.end ?? session.endedBy
            return "\(session.user ?? "-") \(session.tty ?? "-") \(session.status.rawValue) "
                + "\(Int(session.start.timeIntervalSince(epoch) / 60))-"
                + (end.map { String(Int($0.timeIntervalSince(epoch) / 60)) } ?? "") + " \(session.pairing.rawValue)"
        }
    }

    @Test func eachLogoutEndsItsOwnLoginAndOpenSessionsAreStillLoggedInOrGone() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.path + "/audit.db")
        for event in Self.history { _ = try await store.append(event) }
        await store.indexPendingRecords()
        let all = try await Self.sessions(store)
        #expect(
            Self.summary(all) == [
                "dave tty1 still_logged_in 13- fallback",
                "bob pts/1 still_logged_in 10- key",
                "dave tty1 ended 5-7 fallback",
                "carol pts/3 gone 2-10 key",
                "alice pts/2 ended 1-8 key",
                "alice pts/1 ended 0-4 key",
            ])
        #expect(all.first { $0.user == "alice" && $0.tty == "pts/1" }?.logoutSeq == 5)
        #expect(all.last?.duration == 240)
        // Who was logged in at minute 3, at 7 (dave's logout instant: he is gone), oldest first.
        let atThree = try await Self.sessions(store, SessionFilter(present: Self.at(3), order: .ascending))
        #expect(Self.summary(atThree).map { $0.prefix(11) } == ["alice pts/1", "alice pts/2", "carol pts/3"])
        let atSeven = try await Self.sessions(store, SessionFilter(present: Self.at(7)))
        #expect(atSeven.map(\.user) == ["carol", "alice"])
        // Open now; alice's; a window; a limit.
        #expect(try await Self.sessions(store, SessionFilter(openOnly: true)).map(\.user) == ["dave", "bob"])
        #expect(try await Self.sessions(store, SessionFilter(user: "alice")).count == 2)
        let window = SessionFilter(since: Self.at(7.5), until: Self.at(12))
        #expect(try await Self.sessions(store, window).map(\.user) == ["bob", "carol", "alice"])
        #expect(try await Self.sessions(store, SessionFilter(limit: 2)).map(\.user) == ["dave", "bob"])
        try await store.close()
    }

    @Test func theUnmergedTailAndAReadOnlyCopyGiveTheSameAnswers() async throws {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.indexIdleDelay = .seconds(3600)
        let store = try AuditStore(path: directory.path + "/audit.db", options: options)
        // Half merged into the tables, half left as tail: a session begun in the tables and
        // ended in the tail, a boot first seen in the tail.
        for event in Self.history.prefix(7) { _ = try await store.append(event) }
        await store.indexPendingRecords()
        for event in Self.history.dropFirst(7) { _ = try await store.append(event) }
        let filters = [
            SessionFilter(), SessionFilter(present: Self.at(3)), SessionFilter(present: Self.at(9), order: .ascending),
            SessionFilter(openOnly: true), SessionFilter(user: "dave"), SessionFilter(since: Self.at(6), limit: 3),
        ]
        var fromTail: [[WireSession]] = []
        for filter in filters { fromTail.append(try await Self.sessions(store, filter)) }
        let accountsFromTail = try await store.accounts(matching: AccountFilter())
        let readOnly = try ReadOnlyAuditLog(path: directory.path + "/audit.db")
        var fromCopy: [[WireSession]] = []
        for filter in filters {
            var found: [WireSession] = []
            _ = try await readOnly.sessions(matching: filter, context: Self.context) { found.append($0) }
            fromCopy.append(found)
        }
        try readOnly.close()
        await store.indexPendingRecords()
        var merged: [[WireSession]] = []
        for filter in filters { merged.append(try await Self.sessions(store, filter)) }
        #expect(fromTail == merged)
        #expect(fromCopy == merged)
        #expect(Self.summary(merged[0]).count == 6)
        #expect(accountsFromTail == (try await store.accounts(matching: AccountFilter())))
        try await store.close()
    }

    @Test func accountsCountFailuresSinceTheLastLoginByEventTime() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.path + "/audit.db")
        for event in Self.history { _ = try await store.append(event) }
        // An older login arriving late (an import) changes neither the last login nor the count.
        _ = try await store.append(Self.event(.userLoggedIn, "bob", at: -60, key: "B0/1/sshd/pts/1"))
        await store.indexPendingRecords()
        let bob = try #require(try await store.accounts(matching: AccountFilter(user: "bob")).first)
        #expect(bob.lastLogin?.time == Self.at(10))
        #expect(bob.lastLogin?.from == "192.0.2.7")
        #expect(bob.lastLogin?.service == "sshd")
        #expect(bob.failuresSinceLogin == 2)
        #expect(bob.failures == 4)
        #expect(bob.lastFailure?.time == Self.at(12))
        let all = try await store.accounts(matching: AccountFilter())
        #expect(all.map(\.user) == ["alice", "bob", "carol", "dave"])
        #expect(try await store.accounts(matching: AccountFilter(failedOnly: true)).map(\.user) == ["bob"])
        try await store.close()
    }

    @Test func retentionForgetsTheSessionsAndEventsItPrunes() async throws {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.maximumRecords = 9
        let store = try AuditStore(path: directory.path + "/audit.db", options: options)
        for event in Self.history { _ = try await store.append(event) }
        await store.indexPendingRecords()
        #expect(try await store.prune().deleted == 5)
        // alice's, carol's logins are gone with their records; dave's and bob's stay.
        #expect(try await Self.sessions(store).map(\.user) == ["dave", "bob", "dave"])
        // In the interval index: the two open ones (dave's ended one is short, so never was).
        let rtree = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions_span") }
        #expect(rtree == 2)
        let alice = try #require(try await store.accounts(matching: AccountFilter(user: "alice")).first)
        #expect(alice.lastLogin == nil)
        let bob = try #require(try await store.accounts(matching: AccountFilter(user: "bob")).first)
        #expect(bob.failures == 4 && bob.lastFailure?.time == Self.at(12))
        try await store.close()
    }

    @Test func aMergeInStepsBuildsTheSameTablesAsOneMerge() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.path + "/audit.db")
        for event in Self.history { _ = try await store.append(event) }
        await store.indexPendingRecords()
        let dump: @Sendable (Database) throws -> [String] = { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT login_seq || ' ' || ifnull(end, '-') || ' ' || ifnull(logout_seq, '-') || ' '
                        || ifnull(gone_by, '-') FROM sessions ORDER BY login_seq
                    """)
                + String.fetchAll(
                    db, sql: "SELECT user || ' ' || failures || ' ' || failures_since_login FROM account_activity")
        }
        let once = try await store.pool.read { db in try dump(db) }
        let (steps, stepped) = try await store.pool.write { db -> ([Int64], [String]) in
            try db.execute(sql: "DELETE FROM sessions; DELETE FROM sessions_span; DELETE FROM session_boots")
            try db.execute(sql: "DELETE FROM account_activity")
            var steps: [Int64] = []
            try ActivityBooks.merge(db, after: 0, through: 14, trusted: .rootOnly, step: 3) { steps.append($0) }
            return (steps, try dump(db))
        }
        #expect(steps == [3, 6, 9, 12])
        #expect(stepped == once)
        #expect(once.count == 6 + 4)
        try await store.close()
    }

    /// A member of the emit group (uid 1000, not trusted) once made a fake root login dated
    /// 9999-12-31 root's last login for good, hid the real failures after it, and ended root's
    /// open session with a computed pairing key (issue 24, item 3).
    @Test func anUntrustedSenderCannotRewriteSessionsOrLastLogins() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.path + "/audit.db")
        let emitter = PeerCredentials(uid: 1000, gid: 1000, pid: 77)
        let far = Date(timeIntervalSince1970: 253_402_214_400)  // 9999-12-31
        let forged = Self.event(
            .userLoggedIn, "root", at: 0, key: "B2/1/sshd/pts/5", from: "198.51.100.66", peer: emitter, time: far)
        for event in [
            Self.event(.userLoggedIn, "root", at: 10, key: "B2/30/sshd/pts/1"),
            forged,
            Self.event(.userLoggedOut, "root", at: 11, key: "B2/30/sshd/pts/1", peer: emitter),
            Self.event(.userLoginFailed, "root", at: 12, from: "203.0.113.9", peer: emitter),
        ] + (0..<5).map({ Self.event(.userLoginFailed, "root", at: 13 + Double($0), from: "203.0.113.7") }) {
            _ = try await store.append(event)
        }
        // Read from the tail, then from the merged tables: the same answers.
        for _ in 0..<2 {
            let root = try #require(try await store.accounts(matching: AccountFilter(user: "root")).first)
            #expect(root.lastLogin?.time == Self.at(10) && root.lastLogin?.from == "192.0.2.7")
            #expect(root.failuresSinceLogin == 5 && root.failures == 5)
            #expect(root.lastFailure?.from == "203.0.113.7")
            #expect(Self.summary(try await Self.sessions(store)) == ["root pts/1 still_logged_in 10- key"])
            await store.indexPendingRecords()
        }
        try await store.close()
    }

    /// A sender the admin trusts (`TrustedUsers`) counts, but ends only the sessions it began:
    /// a logout must come from the login's sender, or from root.
    @Test func aLogoutEndsOnlyASessionOfItsOwnSenderOrComesFromRoot() async throws {
        let directory = try TemporaryDirectory()
        var options = StoreOptions()
        options.trustedSenders = TrustedSenders(uids: [1000])
        let store = try AuditStore(path: directory.path + "/audit.db", options: options)
        let service = PeerCredentials(uid: 1000, gid: 1000, pid: 77)
        for event in [
            Self.event(.userLoggedIn, "root", at: 20, key: "B2/30/sshd/pts/1"),
            Self.event(.userLoggedIn, "app", at: 21, key: "B2/31/app/-", tty: "-", sender: "app", peer: service),
            Self.event(.userLoggedOut, "root", at: 22, key: "B2/30/sshd/pts/1", peer: service),
            Self.event(.userLoggedOut, "app", at: 23, key: "B2/31/app/-", tty: "-", sender: "app", peer: service),
            Self.event(.userLoggedIn, "bob", at: 24, key: "B2/32/sshd/pts/2", tty: "pts/2", peer: service),
            Self.event(.userLoggedOut, "bob", at: 25, key: "B2/32/sshd/pts/2", tty: "pts/2"),
        ] {
            _ = try await store.append(event)
        }
        await store.indexPendingRecords()
        #expect(
            Self.summary(try await Self.sessions(store)) == [
                "bob pts/2 ended 24-25 key", "app - ended 21-23 key", "root pts/1 still_logged_in 20- key",
            ])
        try await store.close()
    }

    /// An event's own time at most five minutes after it was stored counts as sent; one further
    /// ahead (a forged or broken clock) counts as the moment it was stored, so it cannot stay
    /// an account's last login while real ones follow.
    @Test func aTimeFarAheadOfItsStoringCountsAsTheStoringMoment() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.path + "/audit.db")
        func login(_ time: Date, from address: String) -> RedactedEvent {
            Events.redactor.redact(
                AuthEvent(
                    signal: .userLoggedIn, sender: "sshd", user: "root", request: ["remote_addr": .string(address)],
                    time: time),
                peer: Self.hook)
        }
        let now = Date()
        _ = try await store.append(login(Date(timeIntervalSince1970: 253_402_214_400), from: "198.51.100.66"))
        _ = try await store.append(login(now.addingTimeInterval(1), from: "192.0.2.7"))
        let root = try #require(try await store.accounts(matching: AccountFilter(user: "root")).first)
        #expect(root.lastLogin?.from == "192.0.2.7")
        // Within the allowance a clock ahead is believed.
        _ = try await store.append(login(now.addingTimeInterval(240), from: "192.0.2.8"))
        _ = try await store.append(login(now.addingTimeInterval(2), from: "192.0.2.9"))
        let later = try #require(try await store.accounts(matching: AccountFilter(user: "root")).first)
        #expect(later.lastLogin?.from == "192.0.2.8")
        try await store.close()
    }

    /// Tables an older version built counted every sender's events; opening the log rebuilds
    /// them by the trust rule.
    @Test func tablesOfAnOlderVersionAreRebuiltByTheTrustRule() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/audit.db"
        var store = try AuditStore(path: path)
        _ = try await store.append(Self.event(.userLoggedIn, "root", at: 0, key: "B2/30/sshd/pts/1"))
        _ = try await store.append(
            Self.event(
                .userLoggedIn, "root", at: 5, from: "198.51.100.66", peer: PeerCredentials(uid: 1000, gid: 1000, pid: 7)
            ))
        await store.indexPendingRecords()
        // As the older version left it: root's last login the forged one, and no v4 yet.
        try await store.pool.write { db in
            try db.execute(
                sql: "UPDATE account_activity SET login_from = '198.51.100.66', login_seq = 2 WHERE user = 'root'")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v4-trusted-activity'")
        }
        try await store.close()
        store = try AuditStore(path: path)
        let root = try #require(try await store.accounts(matching: AccountFilter(user: "root")).first)
        #expect(root.lastLogin?.seq == 1 && root.lastLogin?.from == "192.0.2.7")
        try await store.close()
    }

    /// Sessions that ended within the hour are found by their start, the rest through the
    /// interval index: "present at T" gives each session lasting over T once, on both sides of
    /// the hour and of a merge, and a log whose interval index still holds short sessions (an
    /// older version's) is mended when opened.
    @Test func shortSessionsAreFoundByTheirStartAndOthersByTheIntervalIndex() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/audit.db"
        var options = StoreOptions()
        options.indexIdleDelay = .seconds(3600)
        var store = try AuditStore(path: path, options: options)
        // Lengths in minutes around the hour; nil: never logged out. One login ends in a later
        // merge than its own, one is ended before it began by a slow clock.
        let lengths: [Double?] = [1, 59, 60, 61, 180, nil, 30, 600, 0]
        var events: [RedactedEvent] = []
        for (index, length) in lengths.enumerated() {
            let key = "B1/\(index)/sshd/pts/\(index)"
            let start = Double(index * 20)
            events.append(Self.event(.userLoggedIn, "user\(index)", at: start, key: key))
            if let length { events.append(Self.event(.userLoggedOut, "user\(index)", at: start + length, key: key)) }
        }
        events.append(Self.event(.userLoggedIn, "late", at: 50, key: "B1/90/sshd/pts/90"))
        events.append(Self.event(.userLoggedIn, "skewed", at: 70, key: "B1/91/sshd/pts/91"))
        events.append(Self.event(.userLoggedOut, "skewed", at: 65, key: "B1/91/sshd/pts/91"))
        for event in events { _ = try await store.append(event) }
        await store.indexPendingRecords()
        _ = try await store.append(Self.event(.userLoggedOut, "late", at: 100, key: "B1/90/sshd/pts/90"))
        await store.indexPendingRecords()
        let spanned = { (store: AuditStore) in
            try await store.pool.read { db in
                try String.fetchAll(
                    db, sql: "SELECT s.user FROM sessions_span x JOIN sessions s USING (login_seq) ORDER BY s.user")
            }
        }
        // In the interval index: the 61- and 180-minute sessions, the 10-hour one and the open one.
        #expect(try await spanned(store) == ["user3", "user4", "user5", "user7"])
        let all = try await Self.sessions(store)
        #expect(all.count == lengths.count + 2)
        func expected(_ instant: Date) -> [Int64] {
            all.filter { session in
                session.start <= instant && ((session.end ?? session.endedBy).map { $0 > instant } ?? true)
            }.map(\.loginSeq).sorted()
        }
        let instants = stride(from: -5.0, through: 800, by: 2.5).map(Self.at)
        func present(_ store: AuditStore) async throws -> [[Int64]] {
            var answers: [[Int64]] = []
            for instant in instants {
                answers.append(try await Self.sessions(store, SessionFilter(present: instant)).map(\.loginSeq).sorted())
            }
            return answers
        }
        let answers = try await present(store)
        #expect(answers == instants.map(expected))
        #expect(answers.contains { $0.count >= 3 })
        // An older version kept every session in the interval index.
        try await store.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sessions_span (login_seq, first, last)
                        SELECT login_seq, start / 1e6, max(end, start) / 1e6 FROM sessions
                        WHERE login_seq NOT IN (SELECT login_seq FROM sessions_span);
                    DELETE FROM grdb_migrations WHERE identifier = 'v7-short-sessions';
                    """)
        }
        // Read as it is (a read-only copy is never migrated): each session still once.
        let readOnly = try ReadOnlyAuditLog(path: path)
        var fromCopy: [[Int64]] = []
        for instant in instants {
            var found: [Int64] = []
            _ = try await readOnly.sessions(matching: SessionFilter(present: instant), context: Self.context) {
                found.append($0.loginSeq)
            }
            fromCopy.append(found.sorted())
        }
        try readOnly.close()
        #expect(fromCopy == answers)
        try await store.close()
        store = try AuditStore(path: path, options: options)
        #expect(try await spanned(store) == ["user3", "user4", "user5", "user7"])
        #expect(try await present(store) == answers)
        try await store.close()
    }
}
