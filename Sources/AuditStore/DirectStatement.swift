import Foundation
import GRDB
import GRDBSQLite

/// A value bound by ``DirectStatement``.
enum DirectValue: Equatable {
    case integer(Int64?)
    case text(String?)
    case real(Double)
}

/// A cached prepared statement run with its values bound, and its rows read, straight through
/// SQLite's C API.
///
/// The merge's per-row statements (sessions, accounts) run tens of thousands of times per merge;
/// GRDB's general argument handling boxes every value into an existential, and its `Row` copies
/// the column names for every row read: together as much as SQLite's own work for these rows.
struct DirectStatement {
    private let statement: Statement

    /// The statement for `sql`, prepared once per connection when `cached` (for constant SQL:
    /// the cache is keyed by its text), else for this use only.
    init(_ db: Database, _ sql: String, cached: Bool = true) throws {
        statement = try cached ? db.cachedStatement(sql: sql) : db.makeStatement(sql: sql)
    }

    /// Runs the statement once with `values` bound to its parameters in order.
    func run(_ values: DirectValue...) throws {
        try run(values: values)
    }

    /// Runs the statement once with `values` bound to its parameters in order.
    func run(values: [DirectValue]) throws {
        try Self.step(bound(values))
    }

    /// Runs the query with `values` bound, calling `body` with each row it returns.
    func each(_ values: DirectValue..., body: (StatementRow) throws -> Void) throws {
        try rows(of: bound(values), body)
    }

    /// Runs the query with GRDB's `arguments` (checked and bound by GRDB), calling `body` with
    /// each row it returns.
    func each(arguments: StatementArguments, body: (StatementRow) throws -> Void) throws {
        try statement.setArguments(arguments)
        try rows(of: statement.sqliteStatement, body)
    }

    private func rows(of handle: OpaquePointer?, _ body: (StatementRow) throws -> Void) throws {
        defer { sqlite3_reset(handle) }
        while true {
            switch sqlite3_step(handle) {
            case SQLITE_ROW: try body(StatementRow(handle: handle))
            case SQLITE_DONE: return
            case let code: throw Self.error(code, handle)
            }
        }
    }

    private func bound(_ values: [DirectValue]) -> OpaquePointer? {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        for (offset, value) in values.enumerated() {
            Self.bind(value, Int32(offset + 1), handle)
        }
        return handle
    }

    /// Steps a bound statement to its end and resets it.
    /// - Throws: `DatabaseError` with SQLite's code and message.
    static func step(_ handle: OpaquePointer?) throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else { throw error(code, handle) }
    }

    /// SQLite's error `code` for `handle`, with its message.
    private static func error(_ code: Int32, _ handle: OpaquePointer?) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))))
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ value: DirectValue, _ parameter: Int32, _ handle: OpaquePointer?) {
        switch value {
        case .integer(let integer?): sqlite3_bind_int64(handle, parameter, integer)
        case .real(let real): sqlite3_bind_double(handle, parameter, real)
        case .text(var text?):
            // With an explicit length: a value may contain NUL characters.
            text.withUTF8 { bytes in
                guard let base = bytes.baseAddress, !bytes.isEmpty else {
                    return _ = sqlite3_bind_text(handle, parameter, "", 0, transient)
                }
                base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { characters in
                    _ = sqlite3_bind_text(handle, parameter, characters, Int32(bytes.count), transient)
                }
            }
        case .integer(nil), .text(nil): sqlite3_bind_null(handle, parameter)
        }
    }
}
