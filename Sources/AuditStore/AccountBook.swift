import AuthSignalProtocol
import Foundation
import GRDB

/// The `lastlog` rule (docs/sessions.md): by event time, the latest login and failure, and the
/// failures at or after the latest login.
enum AccountBook {
    static func apply(_ event: ActivityEvent, to ledger: inout AccountOverlay) throws {
        // Logins and failures only: a password, account or lifecycle record is neither.
        guard let user = event.user, event.signal == .userLoggedIn || event.signal == .userLoginFailed else { return }
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

/// One account as the `account_activity` table keeps it (times in µs); its columns are declared
/// once, in ``layout``.
struct AccountRow: TableRow {
    var user = ""
    var loginSeq: Int64?
    var loginAt: Int64?
    var loginFrom: String?
    var loginService: String?
    var failureSeq: Int64?
    var failureAt: Int64?
    var failureFrom: String?
    var failureService: String?
    var failuresSinceLogin: Int64 = 0
    var failures: Int64 = 0

    /// The `account_activity` table's columns, in table order.
    static let layout = TableLayout<AccountRow>(
        table: "account_activity",
        columns: [
            TableColumn("user", .text(\.user)),
            TableColumn("login_seq", .optionalInteger(\.loginSeq)),
            TableColumn("login_at", .optionalInteger(\.loginAt)),
            TableColumn("login_from", .optionalText(\.loginFrom)),
            TableColumn("login_service", .optionalText(\.loginService)),
            TableColumn("failure_seq", .optionalInteger(\.failureSeq)),
            TableColumn("failure_at", .optionalInteger(\.failureAt)),
            TableColumn("failure_from", .optionalText(\.failureFrom)),
            TableColumn("failure_service", .optionalText(\.failureService)),
            TableColumn("failures_since_login", .integer(\.failuresSinceLogin)),
            TableColumn("failures", .integer(\.failures)),
        ])

    init() {}

    /// The row that keeps `account`.
    init(_ account: WireAccount) {
        user = account.user
        (loginSeq, loginAt, loginFrom, loginService) = Self.columns(account.lastLogin)
        (failureSeq, failureAt, failureFrom, failureService) = Self.columns(account.lastFailure)
        failuresSinceLogin = account.failuresSinceLogin
        failures = account.failures
    }

    private static func columns(_ event: WireAccount.Event?) -> (Int64?, Int64?, String?, String?) {
        (event?.seq, event.map { Microseconds.from($0.time) }, event?.from, event?.service)
    }

    /// The account it keeps.
    var account: WireAccount {
        func event(_ seq: Int64?, _ at: Int64?, _ from: String?, _ service: String?) -> WireAccount.Event? {
            guard let seq, let at else { return nil }
            return WireAccount.Event(seq: seq, time: Microseconds.date(at), from: from, service: service)
        }
        return WireAccount(
            user: user, lastLogin: event(loginSeq, loginAt, loginFrom, loginService),
            lastFailure: event(failureSeq, failureAt, failureFrom, failureService),
            failuresSinceLogin: failuresSinceLogin, failures: failures)
    }
}

/// The `account_activity` table.
struct StoredAccounts {
    let db: Database

    init(_ db: Database) { self.db = db }

    private static let accountSQL = "SELECT \(AccountRow.layout.selectList()) FROM account_activity WHERE user = ?"

    func account(_ user: String) throws -> WireAccount? {
        var account: WireAccount?
        try DirectStatement(db, Self.accountSQL).each(.text(user)) { account = AccountRow.layout.row($0).account }
        return account
    }

    private static let allSQL = "SELECT \(AccountRow.layout.selectList()) FROM account_activity ORDER BY user"

    /// Every account (or `user`'s), in name order.
    func all(user: String?) throws -> [WireAccount] {
        if let user { return try account(user).map { [$0] } ?? [] }
        var accounts: [WireAccount] = []
        try DirectStatement(db, Self.allSQL).each { accounts.append(AccountRow.layout.row($0).account) }
        return accounts
    }

    private static let storeSQL = AccountRow.layout.insertSQL(replacing: true)

    func store(_ account: WireAccount) throws {
        try DirectStatement(db, Self.storeSQL).run(values: AccountRow.layout.values(of: AccountRow(account)))
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
