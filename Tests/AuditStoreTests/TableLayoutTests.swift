import AuthSignalProtocol
import Foundation
import GRDB
import TestSupport
import Testing

@testable import AuditStore

/// Each table's layout, declared once in Swift, is the table SQLite has: the same columns in the
/// same order, and a row written through the layout reads back the same.
@Suite struct TableLayoutTests {
    @Test func layoutsNameTheTablesColumnsInOrder() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        let columns = try await store.pool.read { db in
            try ["records", "sessions", "account_activity"].map { table in
                try db.columns(in: table).map(\.name)
            }
        }
        #expect(columns[0] == RecordLayout.names)
        #expect(columns[1] == SessionRow.layout.names)
        #expect(columns[2] == AccountRow.layout.names)
        try await store.close()
    }

    @Test func rowsWrittenThroughALayoutReadBackTheSame() async throws {
        let directory = try TemporaryDirectory()
        let store = try AuditStore(path: directory.file("audit.db"))
        var session = SessionRow()
        session.loginSeq = 7
        session.pairing = "boot/42/sshd/pts/1"
        session.keyed = true
        session.boot = "boot"
        session.start = 1_700_000_000_000_000
        session.goneBy = 1_700_000_100_000_000
        session.user = "alice"
        session.remoteAddr = "203.0.113.7"
        session.tty = "pts/1"
        session.sender = "sshd"
        session.peerUID = 0
        let account = WireAccount(
            user: "alice",
            lastLogin: WireAccount.Event(
                seq: 7, time: Date(timeIntervalSince1970: 1_700_000_000), from: "203.0.113.7", service: "sshd"),
            lastFailure: nil, failuresSinceLogin: 2, failures: 5)
        let written = session
        let (sessions, accounts) = try await store.pool.write { db in
            try StoredSessions(db).begin(written)
            try StoredAccounts(db).store(account)
            return (
                try StoredSessions(db).rows("SELECT \(SessionRow.selectList) FROM sessions", []),
                try StoredAccounts(db).all(user: nil)
            )
        }
        #expect(sessions.map(SessionRow.layout.values(of:)) == [SessionRow.layout.values(of: session)])
        #expect(accounts == [account])
        try await store.close()
    }
}
