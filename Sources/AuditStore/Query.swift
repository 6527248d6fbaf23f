package import AuthSignalCore
import Foundation
import GRDB

extension AuditStore {
    /// The records matching `filter`, read page by page: memory stays constant however many
    /// records match, and no read transaction is held between pages.
    package func records(matching filter: RecordFilter = RecordFilter(), pageSize: Int = 512) -> RecordSequence {
        RecordSequence(reader: pool, filter: filter, pageSize: max(pageSize, 1))
    }
}

/// An asynchronous sequence of audit records; see ``AuditStore/records(matching:pageSize:)``.
package struct RecordSequence: AsyncSequence, Sendable {
    /// Each element is one record.
    package typealias Element = AuditRecord

    let reader: any DatabaseReader
    let filter: RecordFilter
    let pageSize: Int

    /// Starts reading.
    package func makeAsyncIterator() -> Iterator {
        Iterator(reader: reader, query: RecordQuery(filter: filter), pageSize: pageSize)
    }

    /// Reads the next page when the current one is used up.
    package struct Iterator: AsyncIteratorProtocol {
        let reader: any DatabaseReader
        var query: RecordQuery
        let pageSize: Int
        var page: [AuditRecord] = []
        var position = 0
        var finished = false

        init(reader: any DatabaseReader, query: RecordQuery, pageSize: Int) {
            self.reader = reader
            self.query = query
            self.pageSize = pageSize
        }

        /// The next record, or `nil` after the last.
        package mutating func next() async throws -> AuditRecord? {
            if position == page.count {
                if finished { return nil }
                let query = self.query
                let size = query.remaining.map { Swift.min($0, pageSize) } ?? pageSize
                guard size > 0 else { return nil }
                page = try await reader.read { db in try query.page(db, size: size) }
                position = 0
                if page.count < size { finished = true }
                guard let last = page.last else { return nil }
                self.query.advance(past: last.seq, count: page.count)
            }
            defer { position += 1 }
            return page[position]
        }
    }
}

/// A query's SQL and where it has got to.
///
/// Records up to `indexed_through` are found for a user or address through the bulk-built
/// indexes; later ones (at most a merge's worth) by seq range. `since`/`until` become seq bounds
/// first, through the `received` index (received times never decrease with seq).
struct RecordQuery: Sendable {
    let filter: RecordFilter
    /// The seq after (ascending) or before (descending) which the next page starts.
    var cursor: Int64?
    var remaining: Int?

    init(filter: RecordFilter) {
        self.filter = filter
        self.remaining = filter.limit.map { max($0, 0) }
    }

    mutating func advance(past seq: Int64, count: Int) {
        cursor = seq
        remaining = remaining.map { $0 - count }
    }

    /// The seqs the page may hold: greater than `lower`, at most `upper`; `nil` when none can.
    func bounds(_ db: Database) throws -> (lower: Int64, upper: Int64)? {
        var lower = filter.afterSeq ?? 0
        var upper = Int64.max
        if let since = filter.since {
            guard
                let first = try Int64.fetchOne(
                    db, sql: "SELECT seq FROM records WHERE received >= ? ORDER BY received, seq LIMIT 1",
                    arguments: [Microseconds.from(since)])
            else { return nil }
            lower = max(lower, first - 1)
        }
        if let until = filter.until {
            guard
                let last = try Int64.fetchOne(
                    db, sql: "SELECT seq FROM records WHERE received < ? ORDER BY received DESC, seq DESC LIMIT 1",
                    arguments: [Microseconds.from(until)])
            else { return nil }
            upper = min(upper, last)
        }
        if let cursor {
            if filter.order == .ascending { lower = max(lower, cursor) } else { upper = min(upper, cursor - 1) }
        }
        return lower < upper ? (lower, upper) : nil
    }

    /// The statements that read the next page, in order: each adds rows until `size` are found.
    func statements(_ db: Database, size: Int) throws -> [(sql: String, arguments: StatementArguments)] {
        guard let (lower, upper) = try bounds(db) else { return [] }
        let direction = filter.order == .ascending ? "ASC" : "DESC"
        let keyed: (table: String, column: String, value: String)? =
            if let user = filter.user { ("records_by_user", "user", user) } else if let address = filter.remoteAddr {
                ("records_by_address", "remote_addr", address)
            } else { nil }
        func conditions(_ prefix: String, skip column: String?) -> (String, [any DatabaseValueConvertible]) {
            var sql: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            let fields: [(String, String?)] = [
                ("user", filter.user), ("remote_addr", filter.remoteAddr),
                ("signal", filter.signal?.rawValue), ("sender", filter.sender),
            ]
            for (name, value) in fields where name != column {
                if let value {
                    sql.append("\(prefix)\(name) = ?")
                    arguments.append(value)
                }
            }
            return (sql.map { " AND " + $0 }.joined(), arguments)
        }
        guard let keyed else {
            let (extra, arguments) = conditions("", skip: nil)
            return [
                (
                    "SELECT \(RecordLayout.selectList()) FROM records WHERE seq > ? AND seq <= ?\(extra) "
                        + "ORDER BY seq \(direction) LIMIT \(size)",
                    sqlArguments([lower, upper] + arguments)
                )
            ]
        }
        let indexedThrough = try Schema.indexedThrough(db)
        var statements: [(sql: String, arguments: StatementArguments)] = []
        if lower < min(upper, indexedThrough) {
            let (extra, arguments) = conditions("r.", skip: keyed.column)
            statements.append(
                (
                    "SELECT \(RecordLayout.selectList(prefix: "r.")) FROM \(keyed.table) k JOIN records r ON r.seq = k.seq "
                        + "WHERE k.\(keyed.column) = ? AND k.seq > ? AND k.seq <= ?\(extra) "
                        + "ORDER BY k.seq \(direction) LIMIT \(size)",
                    sqlArguments([keyed.value, lower, min(upper, indexedThrough)] + arguments)
                ))
        }
        if max(lower, indexedThrough) < upper {
            let (extra, arguments) = conditions("", skip: nil)
            let tail = (
                sql: "SELECT \(RecordLayout.selectList()) FROM records WHERE seq > ? AND seq <= ?\(extra) "
                    + "ORDER BY seq \(direction) LIMIT \(size)",
                arguments: sqlArguments([max(lower, indexedThrough), upper] + arguments)
            )
            if filter.order == .ascending { statements.append(tail) } else { statements.insert(tail, at: 0) }
        }
        return statements
    }

    func page(_ db: Database, size: Int) throws -> [AuditRecord] {
        var rows: [AuditRecord] = []
        for (sql, arguments) in try statements(db, size: size) {
            let found = try Row.fetchAll(db, sql: sql, arguments: arguments).map(RecordRow.record(from:))
            rows.append(contentsOf: found.prefix(size - rows.count))
            if rows.count == size { break }
        }
        return rows
    }
}

/// Arguments for a statement, from values of mixed types.
func sqlArguments(_ values: [any DatabaseValueConvertible]) -> StatementArguments {
    StatementArguments(values.map { $0 as (any DatabaseValueConvertible)? })
}

/// Reading records from rows selected with ``RecordLayout/selectList(prefix:)``.
enum RecordRow {
    static func record(from row: Row) throws -> AuditRecord {
        let (columns, prevHash, hash) = RecordLayout.columns(of: row)
        return try AuditRecord(columns: columns, prevHash: prevHash, hash: hash)
    }
}

extension AuditRecord {
    /// The record stored with `columns`: the signal by its wire name, the request and credentials
    /// parsed back from canonical JSON.
    init(columns: RecordColumns, prevHash: Data, hash: Data) throws {
        guard let signal = AuthSignal(rawValue: columns.signal) else {
            throw StoreError.unavailable("record \(columns.seq) has an unknown signal")
        }
        self.init(
            seq: columns.seq, received: Microseconds.date(columns.received), time: columns.time.map(Microseconds.date),
            signal: signal, sender: columns.sender, user: columns.user, remoteAddr: columns.remoteAddr,
            request: try Self.object(columns.request), credentials: try Self.object(columns.credentials),
            peer: PeerCredentials(
                uid: UInt32(truncatingIfNeeded: columns.peerUID), gid: UInt32(truncatingIfNeeded: columns.peerGID),
                pid: Int32(truncatingIfNeeded: columns.peerPID)),
            idempotencyKey: columns.idempotencyKey, prevHash: prevHash, hash: hash)
    }

    /// Parses a stored request or credentials object (canonical JSON written by the store, so
    /// NUL characters are accepted and depth is not limited to the protocol's).
    private static func object(_ text: String?) throws -> JSONObject? {
        guard var text else { return nil }
        let value = try text.withUTF8 { bytes in
            try JSONParser.parse(bytes, maximumDepth: 4096, allowsNUL: true)
        }
        guard case .object(let members) = value else {
            throw StoreError.unavailable("a stored request or credentials value is not a JSON object")
        }
        return members
    }
}

extension AuditStore {
    /// Calls `each` with the login sessions `filter` selects, for a host in boot `context`
    /// (docs/sessions.md); returns how many.
    package func sessions(
        matching filter: SessionFilter, context: BootContext = .current(),
        each: (WireSession) async throws -> Void
    ) async throws -> Int {
        try await ActivityReader.sessions(pool, matching: filter, context: context, each: each)
    }

    /// The accounts `filter` selects: last login, last failure, failures since (docs/sessions.md).
    package func accounts(matching filter: AccountFilter) async throws -> [WireAccount] {
        try await ActivityReader.accounts(pool, matching: filter)
    }
}

extension ReadOnlyAuditLog {
    /// The login sessions `filter` selects (see ``AuditStore/sessions(matching:context:each:)``).
    package func sessions(
        matching filter: SessionFilter, context: BootContext = .current(),
        each: (WireSession) async throws -> Void
    ) async throws -> Int {
        try await ActivityReader.sessions(pool, matching: filter, context: context, each: each)
    }

    /// The accounts `filter` selects (see ``AuditStore/accounts(matching:)``).
    package func accounts(matching filter: AccountFilter) async throws -> [WireAccount] {
        try await ActivityReader.accounts(pool, matching: filter)
    }
}
