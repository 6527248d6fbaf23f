import AuthSignalProtocol
import Foundation
import GRDB

/// The `lastlog` rule (docs/sessions.md): by event time, the latest login and failure, and the
/// failures at or after the latest login.
enum AccountBook {
    static func apply(_ event: ActivityEvent, to ledger: inout AccountOverlay) throws {
        guard let user = event.user, event.signal != .userLoggedOut else { return }
        var account =
            try ledger.account(user)
            ?? WireAccount(user: user, lastLogin: nil, lastFailure: nil, failuresSinceLogin: 0, failures: 0)
        let time = Microseconds.date(event.at)
        let seen = WireAccount.Event(
            seq: event.seq, time: time, from: event.remoteAddr, service: event.service ?? event.sender)
        if event.signal == .userLoggedIn {
            guard account.lastLogin.map({ time >= $0.time }) ?? true else { return }
            account.lastLogin = seen
            account.failuresSinceLogin = 0
        } else {
            account.failures += 1
            if account.lastFailure.map({ time >= $0.time }) ?? true { account.lastFailure = seen }
            if account.lastLogin.map({ time >= $0.time }) ?? true { account.failuresSinceLogin += 1 }
        }
        ledger.store(account)
    }
}

/// The `account_activity` table.
struct StoredAccounts {
    let db: Database

    init(_ db: Database) { self.db = db }

    static let columns = """
        user, login_seq, login_at, login_from, login_service, failure_seq, failure_at, failure_from,
        failure_service, failures_since_login, failures
        """

    static func account(_ row: StatementRow) -> WireAccount {
        func event(_ first: Int) -> WireAccount.Event? {
            guard let seq = row.integer(at: first), let at = row.integer(at: first + 1) else { return nil }
            return WireAccount.Event(
                seq: seq, time: Microseconds.date(at), from: row.text(at: first + 2), service: row.text(at: first + 3))
        }
        return WireAccount(
            user: row.text(at: 0) ?? "", lastLogin: event(1), lastFailure: event(5),
            failuresSinceLogin: row.integer(at: 9) ?? 0, failures: row.integer(at: 10) ?? 0)
    }

    private static let accountSQL = "SELECT \(columns) FROM account_activity WHERE user = ?"

    func account(_ user: String) throws -> WireAccount? {
        var account: WireAccount?
        try DirectStatement(db, Self.accountSQL).each(.text(user)) { account = Self.account($0) }
        return account
    }

    private static let allSQL = "SELECT \(columns) FROM account_activity ORDER BY user"

    /// Every account (or `user`'s), in name order.
    func all(user: String?) throws -> [WireAccount] {
        if let user { return try account(user).map { [$0] } ?? [] }
        var accounts: [WireAccount] = []
        try DirectStatement(db, Self.allSQL).each { accounts.append(Self.account($0)) }
        return accounts
    }

    private static let storeSQL =
        "INSERT OR REPLACE INTO account_activity (\(columns)) VALUES (?,?,?,?,?,?,?,?,?,?,?)"

    func store(_ account: WireAccount) throws {
        let microseconds = { (event: WireAccount.Event?) in event.map { Microseconds.from($0.time) } }
        try DirectStatement(db, Self.storeSQL).run(
            .text(account.user), .integer(account.lastLogin?.seq), .integer(microseconds(account.lastLogin)),
            .text(account.lastLogin?.from), .text(account.lastLogin?.service), .integer(account.lastFailure?.seq),
            .integer(microseconds(account.lastFailure)), .text(account.lastFailure?.from),
            .text(account.lastFailure?.service), .integer(account.failuresSinceLogin), .integer(account.failures))
    }
}

/// The accounts as a run of events leaves them, over the stored ones; the writer's merge writes
/// them back (``write()``), readers lay them over the table.
struct AccountOverlay {
    /// Where stored accounts are looked up; `nil` for a log without the table.
    var stored: StoredAccounts?
    /// The accounts the events touch.
    private(set) var accounts: [String: WireAccount] = [:]

    init(stored: StoredAccounts?) { self.stored = stored }

    /// The account as kept so far, if it has been seen.
    func account(_ user: String) throws -> WireAccount? {
        if let account = accounts[user] { return account }
        return try stored?.account(user)
    }

    /// Keeps `account`.
    mutating func store(_ account: WireAccount) { accounts[account.user] = account }

    /// Writes the accounts touched into the table.
    func write() throws {
        guard let stored else { return }
        for account in accounts.values { try stored.store(account) }
    }
}
