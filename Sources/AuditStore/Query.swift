package import AuthSignalProtocol
import Foundation
import GRDB

extension AuditStore {
    /// The records matching `filter`, read page by page: memory stays constant however many
    /// records match, and no read transaction is held between pages.
    package func records(matching filter: RecordFilter = RecordFilter(), pageSize: Int = 512) -> RecordSequence {
        RecordSequence(reader: pool, filter: filter, pageSize: max(pageSize, 1))
    }
}

extension AuditStore {
    /// Up to `limit` records with a seq above `seq`, in seq order, read at once: for a thread
    /// outside Swift concurrency (the journal receiver catching up with the log).
    package func records(after seq: Int64, limit: Int) throws -> [AuditRecord] {
        let query = RecordQuery(filter: RecordFilter(afterSeq: seq))
        return try pool.read { db in try query.page(db, size: max(limit, 1)) }
    }
}

extension AuditStore {
    /// The records matching `filter` as protocol lines (`{"record":…}` and a newline), page by
    /// page as ``records(matching:pageSize:)`` reads them, calling `each` with each page's lines.
    /// The next page is read while `each` handles the current one (the daemon writes it to a
    /// socket meanwhile). Returns how many records in all.
    package func recordLines(
        matching filter: RecordFilter, pageSize: Int = 512, each: ([UInt8]) async throws -> Void
    ) async throws -> Int {
        let pool = self.pool
        let read = { @Sendable (query: RecordQuery) async throws -> LinePage? in
            let size = query.remaining.map { Swift.min($0, pageSize) } ?? pageSize
            guard size > 0 else { return nil }
            return try await pool.read { db in
                var lines: [UInt8] = []
                lines.reserveCapacity(size * 512)
                let (count, last) = try query.linePage(db, size: size, into: &lines)
                return LinePage(lines: lines, count: count, last: last, full: count == size)
            }
        }
        var query = RecordQuery(filter: filter)
        var total = 0
        var current = try await read(query)
        while let page = current, page.count > 0 {
            var ahead: Task<LinePage?, any Error>?
            if page.full, let last = page.last {
                query.advance(past: last, count: page.count)
                let next = query
                ahead = Task { try await read(next) }
            }
            do {
                try await each(page.lines)
            } catch {
                ahead?.cancel()
                throw error
            }
            total += page.count
            current = try await ahead?.value
        }
        return total
    }
}

/// One page of record lines, and where the query goes on from.
struct LinePage: Sendable {
    let lines: [UInt8]
    let count: Int
    let last: Int64?
    /// Whether the page was filled, so that more may follow.
    let full: Bool
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
        // A log of an older version, read without migrating, has no verdicts table.
        let judged = try db.tableExists("verdicts")
        let verdictColumn = { (prefix: String) in judged ? VerdictTable.column(prefix: prefix) : "NULL" }
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
            if let verdict = filter.verdict {
                if judged {
                    sql.append("\(prefix)seq IN (SELECT seq FROM verdicts WHERE code = ?)")
                    arguments.append(verdict.rawValue)
                } else {
                    sql.append("0")
                }
            }
            return (sql.map { " AND " + $0 }.joined(), arguments)
        }
        guard let keyed else {
            let (extra, arguments) = conditions("", skip: nil)
            return [
                (
                    "SELECT \(RecordLayout.selectList()), \(verdictColumn("records.")) FROM records "
                        + "WHERE seq > ? AND seq <= ?\(extra) ORDER BY seq \(direction) LIMIT \(size)",
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
                    "SELECT \(RecordLayout.selectList(prefix: "r.")), \(verdictColumn("r.")) "
                        + "FROM \(keyed.table) k JOIN records r ON r.seq = k.seq "
                        + "WHERE k.\(keyed.column) = ? AND k.seq > ? AND k.seq <= ?\(extra) "
                        + "ORDER BY k.seq \(direction) LIMIT \(size)",
                    sqlArguments([keyed.value, lower, min(upper, indexedThrough)] + arguments)
                ))
        }
        if max(lower, indexedThrough) < upper {
            let (extra, arguments) = conditions("", skip: nil)
            let tail = (
                sql: "SELECT \(RecordLayout.selectList()), \(verdictColumn("records.")) FROM records "
                    + "WHERE seq > ? AND seq <= ?\(extra) ORDER BY seq \(direction) LIMIT \(size)",
                arguments: sqlArguments([max(lower, indexedThrough), upper] + arguments)
            )
            if filter.order == .ascending { statements.append(tail) } else { statements.insert(tail, at: 0) }
        }
        return statements
    }

    /// The next page as `{"record":…}` lines, written from the rows' columns as SQLite holds
    /// them: the stored request and credentials, canonical JSON already, are copied once checked
    /// rather than parsed and encoded again. Returns how many records and the last one's seq.
    func linePage(_ db: Database, size: Int, into output: inout [UInt8]) throws -> (count: Int, last: Int64?) {
        var count = 0
        var last: Int64?
        for (sql, arguments) in try statements(db, size: size) where count < size {
            try DirectStatement(db, sql, cached: false).each(arguments: arguments) { row in
                guard count < size else { return }
                try RecordLine.append(row, to: &output)
                last = row.integer(at: RecordLine.seq)
                count += 1
            }
        }
        return (count, last)
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

/// A record's protocol line from a row selected with ``RecordLayout/selectList(prefix:)``.
enum RecordLine {
    static let seq = RecordLayout.names.firstIndex(of: "seq")!
    static let received = RecordLayout.names.firstIndex(of: "received")!
    static let time = RecordLayout.names.firstIndex(of: "time")!
    static let signal = RecordLayout.names.firstIndex(of: "signal")!
    static let sender = RecordLayout.names.firstIndex(of: "sender")!
    static let user = RecordLayout.names.firstIndex(of: "user")!
    static let request = RecordLayout.names.firstIndex(of: "request")!
    static let credentials = RecordLayout.names.firstIndex(of: "credentials")!
    static let peerUID = RecordLayout.names.firstIndex(of: "peer_uid")!
    static let peerGID = RecordLayout.names.firstIndex(of: "peer_gid")!
    static let peerPID = RecordLayout.names.firstIndex(of: "peer_pid")!

    /// Appends the line of the record in `row`.
    /// - Throws: ``StoreError`` when the row is not a record the store could have written.
    static func append(_ row: StatementRow, to output: inout [UInt8]) throws {
        let seq = row.integer(at: seq) ?? 0
        guard let signal = row.text(at: signal).flatMap(AuthSignal.init(rawValue:)) else {
            throw StoreError.unavailable("record \(seq) has an unknown signal")
        }
        var failure: StoreError?
        row.withText(at: request) { request in
            row.withText(at: credentials) { credentials in
                for json in [request, credentials] {
                    if let json, !JSONParser.isObject(json, maximumDepth: 4096, allowsNUL: true) {
                        failure = .unavailable("record \(seq) has a damaged request or credentials value")
                        return
                    }
                }
                WireRecord.appendLine(
                    seq: seq, received: Microseconds.date(row.integer(at: received) ?? 0),
                    time: row.integer(at: time).map(Microseconds.date), signal: signal,
                    sender: row.text(at: sender) ?? "", user: row.text(at: user), requestJSON: request,
                    credentialsJSON: credentials,
                    peer: PeerCredentials(
                        uid: UInt32(truncatingIfNeeded: row.integer(at: peerUID) ?? 0),
                        gid: UInt32(truncatingIfNeeded: row.integer(at: peerGID) ?? 0),
                        pid: Int32(truncatingIfNeeded: row.integer(at: peerPID) ?? 0)),
                    hash: row.blob(at: RecordLayout.hashIndex).assumingMemoryBound(to: UInt8.self),
                    verdicts: VerdictTable.verdicts(row), to: &output)
            }
        }
        if let failure { throw failure }
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
        var record = try AuditRecord(columns: columns, prevHash: prevHash, hash: hash)
        if row.count > VerdictTable.columnIndex {
            record.verdicts = VerdictTable.verdicts(json: row[VerdictTable.columnIndex] as String?)
        }
        return record
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
        try await ActivityReader.sessions(
            pool, matching: filter, context: context, trusted: writer.merger.trusted, each: each)
    }

    /// The accounts `filter` selects: last login, last failure, failures since (docs/sessions.md).
    package func accounts(matching filter: AccountFilter) async throws -> [WireAccount] {
        try await ActivityReader.accounts(pool, matching: filter, trusted: writer.merger.trusted)
    }
}

extension ReadOnlyAuditLog {
    /// The login sessions `filter` selects (see ``AuditStore/sessions(matching:context:each:)``).
    package func sessions(
        matching filter: SessionFilter, context: BootContext = .current(),
        each: (WireSession) async throws -> Void
    ) async throws -> Int {
        try await ActivityReader.sessions(pool, matching: filter, context: context, trusted: trusted, each: each)
    }

    /// The accounts `filter` selects (see ``AuditStore/accounts(matching:)``).
    package func accounts(matching filter: AccountFilter) async throws -> [WireAccount] {
        try await ActivityReader.accounts(pool, matching: filter, trusted: trusted)
    }
}
