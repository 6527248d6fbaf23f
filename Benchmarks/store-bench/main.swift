// Measures the audit store's ingest, query and verify speed against a floor measured in the same
// run on the same file system: the same rows, schema and indexes inserted through the raw SQLite
// C API with one prepared statement in 1,000-row transactions.
//
// Run: swift run -c release store-bench [--rows N] [--prefill N] [--workdir DIR]
// Prints a table, then one JSON object with every figure as its last line.
import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import GRDBSQLite

struct Options {
    var rows = 60_000
    var prefill = 1_000_000
    var workdir = ".build/store-bench"

    init(_ arguments: [String]) {
        var index = 1
        while index + 1 < arguments.count {
            switch arguments[index] {
            case "--rows": rows = Int(arguments[index + 1]) ?? rows
            case "--prefill": prefill = Int(arguments[index + 1]) ?? prefill
            case "--workdir": workdir = arguments[index + 1]
            default: usage()
            }
            index += 2
        }
        if index != arguments.count { usage() }
    }

    func usage() -> Never {
        FileHandle.standardError.write(Data("usage: store-bench [--rows N] [--prefill N] [--workdir DIR]\n".utf8))
        exit(2)
    }
}

let options = Options(CommandLine.arguments)
try FileManager.default.createDirectory(atPath: options.workdir, withIntermediateDirectories: true)

// MARK: Realistic events

/// A deterministic generator (SplitMix64), so every run inserts the same rows; it also keeps the
/// sessions its logins opened, so that logouts end them by their pairing keys as the PAM hook's do.
struct Generator {
    var state: UInt64
    /// Sessions begun and not yet ended: user, address, sender, tty and pairing key.
    var open: [(user: String, address: String, sender: String, tty: String, key: String)] = []
    /// Events made so far; a new boot id every `eventsPerBoot`.
    var made = 0
    static let eventsPerBoot = 100_000

    init(state: UInt64) { self.state = state }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

let redactor = Redactor(
    mode: .hmac, key: try RedactionKey(bytes: Array(repeating: 9, count: 32)), isKnownAccount: { _ in true })
let senders = ["sshd", "sshd", "sshd", "login", "sudo", "gdm-password", "su"]

/// 10,000 users, 50,000 addresses, a few senders; logins, as many logouts, and failures. Logins and
/// logouts carry the PAM hook's pairing key; a few hundred sessions are open at a time (beyond 500
/// the oldest never log out), and the boot changes every 100,000 events.
func realisticEvent(_ generator: inout Generator) -> RedactedEvent {
    generator.made += 1
    let boot = "bench-boot-\(generator.made / Generator.eventsPerBoot)"
    let roll = generator.below(100)
    let signal: AuthSignal = roll < 43 ? .userLoggedIn : roll < 85 ? .userLoggedOut : .userLoginFailed
    var session: (user: String, address: String, sender: String, tty: String, key: String)
    if signal == .userLoggedOut, !generator.open.isEmpty {
        session = generator.open.remove(at: generator.below(generator.open.count))
    } else {
        let sender = senders[generator.below(senders.count)]
        let address = generator.below(50_000)
        let tty = sender == "sshd" ? "pts/\(generator.below(64))" : "tty\(generator.below(8))"
        session = (
            "user\(String(format: "%05d", generator.below(10_000)))", "198.18.\(address / 256).\(address % 256)",
            sender, tty, "\(boot)/\(1_000 + generator.below(30_000))/\(sender)/\(tty)"
        )
        if signal == .userLoggedIn {
            generator.open.append(session)
            if generator.open.count > 500 { generator.open.removeFirst() }
        }
    }
    var request: JSONObject = [
        "remote_addr": .string(session.address), "remote_port": .int(Int64(1024 + generator.below(60_000))),
        "service": .string(session.sender), "tty": .string(session.tty),
    ]
    if signal != .userLoginFailed { request["pairing"] = .string(session.key) }
    let credentials: JSONObject? =
        signal == .userLoginFailed
        ? ["username": .string(session.user), "password": .string("guess\(generator.below(5_000))")] : nil
    return redactor.redact(
        AuthEvent(
            signal: signal, sender: session.sender, user: session.user, request: request, credentials: credentials),
        peer: PeerCredentials(uid: 0, gid: 0, pid: Int32(1_000 + generator.below(30_000))))
}

// MARK: Raw SQLite (the floor, and the pre-fill)

final class RawDatabase {
    var handle: OpaquePointer?

    init(_ path: String, synchronous: String) {
        guard sqlite3_open(path, &handle) == SQLITE_OK else { fatalError("cannot open \(path)") }
        exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = \(synchronous); PRAGMA cache_size = -65536")
    }

    deinit { sqlite3_close(handle) }

    func exec(_ sql: String) {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else {
            fatalError("\(sql): \(String(cString: sqlite3_errmsg(handle)))")
        }
    }

    /// The last record's seq, received time and hash.
    func head() -> (seq: Int64, received: Int64, hash: Data) {
        var statement: OpaquePointer?
        sqlite3_prepare_v2(
            handle, "SELECT seq, received, hash FROM records ORDER BY seq DESC LIMIT 1", -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { return (0, 0, Data(count: 32)) }
        let bytes = sqlite3_column_blob(statement, 2)!
        return (
            sqlite3_column_int64(statement, 0), sqlite3_column_int64(statement, 1),
            Data(bytes: bytes, count: Int(sqlite3_column_bytes(statement, 2)))
        )
    }

    /// Adds the records not yet in the user and address indexes, as the store's writer does.
    func indexAll() {
        exec(
            """
            BEGIN IMMEDIATE;
            INSERT OR IGNORE INTO records_by_user (user, seq)
                SELECT user, seq FROM records
                WHERE seq > (SELECT indexed_through FROM index_state) AND user IS NOT NULL ORDER BY user, seq;
            INSERT OR IGNORE INTO records_by_address (remote_addr, seq)
                SELECT remote_addr, seq FROM records
                WHERE seq > (SELECT indexed_through FROM index_state) AND remote_addr IS NOT NULL
                ORDER BY remote_addr, seq;
            UPDATE index_state SET indexed_through = (SELECT max(seq) FROM records);
            COMMIT;
            """)
    }

    /// Inserts `rows` with one prepared statement, `batch` rows per transaction.
    func insert(_ rows: [ChainedRow], batch: Int) {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, RecordLayout.insertSQL, -1, &statement, nil) == SQLITE_OK else {
            fatalError(String(cString: sqlite3_errmsg(handle)))
        }
        defer { sqlite3_finalize(statement) }
        for start in stride(from: 0, to: rows.count, by: batch) {
            exec("BEGIN IMMEDIATE")
            for row in rows[start..<min(start + batch, rows.count)] {
                RecordBinding.bind(
                    seq: row.columns.seq, received: row.columns.received, row.encoded, prevHash: row.prevHash,
                    hash: row.hash, to: statement)
                guard sqlite3_step(statement) == SQLITE_DONE else {
                    fatalError(String(cString: sqlite3_errmsg(handle)))
                }
                sqlite3_reset(statement)
            }
            exec("COMMIT")
        }
    }
}

/// A record ready to insert: its columns, encoded as the store's appenders encode them, and its
/// chain hashes.
typealias ChainedRow = (columns: RecordColumns, encoded: EncodedColumns, prevHash: Data, hash: Data)

/// Rows chained after `head`, received from `start` µs on, `step` µs apart.
func chainedRows(
    _ events: [RedactedEvent], after head: (seq: Int64, received: Int64, hash: Data), start: Int64, step: Int64
) -> [ChainedRow] {
    var rows: [ChainedRow] = []
    rows.reserveCapacity(events.count)
    var previous = head.hash
    for (offset, event) in events.enumerated() {
        let columns = RecordColumns(
            seq: head.seq + Int64(offset) + 1, received: max(start + Int64(offset) * step, head.received), event: event)
        let hash = columns.hash(after: previous)
        rows.append((columns, EncodedColumns(columns), previous, hash))
        previous = hash
    }
    return rows
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

// MARK: The pre-filled database (built once, then reused)

let nowMicros = Int64(Date().timeIntervalSince1970 * 1_000_000)
/// Bump when the schema changes, so that an old pre-filled database is not reused.
let schemaTag = "v3-sessions-by-key"
let template = "\(options.workdir)/prefilled-\(schemaTag)-\(options.prefill).db"
if !FileManager.default.fileExists(atPath: template) {
    print("building the pre-filled database: \(options.prefill) records over 30 days …")
    let started = ContinuousClock.now
    removeDatabase(template + ".partial")
    try await AuditStore(path: template + ".partial").close()
    let raw = RawDatabase(template + ".partial", synchronous: "OFF")
    var generator = Generator(state: 1)
    let thirtyDays: Int64 = 30 * 86_400 * 1_000_000
    let step = thirtyDays / Int64(max(options.prefill, 1))
    var head = raw.head()
    for chunk in stride(from: 0, to: options.prefill, by: 100_000) {
        let events = (0..<min(100_000, options.prefill - chunk)).map { _ in realisticEvent(&generator) }
        let rows = chainedRows(events, after: head, start: nowMicros - thirtyDays + Int64(chunk) * step, step: step)
        raw.insert(rows, batch: 10_000)
        head = (rows.last!.columns.seq, rows.last!.columns.received, rows.last!.hash)
    }
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)")
    // The store's own merge builds the indexes, the sessions and the accounts.
    let merging = try AuditStore(path: template + ".partial")
    await merging.indexPendingRecords()
    try await merging.close()
    RawDatabase(template + ".partial", synchronous: "OFF").exec("PRAGMA wal_checkpoint(TRUNCATE)")
    try FileManager.default.moveItem(atPath: template + ".partial", toPath: template)
    removeDatabase(template + ".partial")
    print(String(format: "  built in %.1f s", seconds(ContinuousClock.now - started)))
}

// MARK: Ingest cases

struct Ingest {
    let name: String
    let rows: Int
    let seconds: Double
    var rate: Double { Double(rows) / seconds }
}

/// Appends `count` events through the store with `appenders` concurrent appenders.
func storeIngest(_ path: String, appenders: Int, count: Int, batch: Int? = nil, seed: UInt64) async throws -> Ingest {
    var storeOptions = StoreOptions()
    if let batch { storeOptions.maximumBatch = batch }
    let store = try AuditStore(path: path, options: storeOptions)
    var generator = Generator(state: seed)
    let events = (0..<count).map { _ in realisticEvent(&generator) }
    let perAppender = (count + appenders - 1) / appenders
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for appender in 0..<appenders {
            let mine = Array(events[min(appender * perAppender, count)..<min((appender + 1) * perAppender, count)])
            group.addTask { for event in mine { try await store.append(event) } }
        }
        try await group.waitForAll()
    }
    // Included in the time: the bulk indexing of the user and address keys of these rows.
    await store.indexPendingRecords()
    let elapsed = seconds(ContinuousClock.now - started)
    let transactions = store.committedTransactions
    try await store.close()
    let label =
        batch == 1
        ? "one commit per row, \(appenders) appenders"
        : "group commit, \(appenders) appender\(appenders == 1 ? "" : "s")"
    print(
        String(
            format: "    %-38@ %8d rows %8.2f s %10.0f rows/s  (%d transactions)", label, count, elapsed,
            Double(count) / elapsed, transactions))
    return Ingest(name: label, rows: count, seconds: elapsed)
}

/// The floor: the same kind of rows through the raw C API in `batch`-row transactions. The
/// targets are against 1,000-row transactions; 64 rows is what 64 closed-loop appenders can put in
/// one commit at most, shown beside it so that the store's ratio is also seen against that.
func floorIngest(_ path: String, count: Int, batch: Int = 1_000, seed: UInt64) -> Ingest {
    let raw = RawDatabase(path, synchronous: "FULL")
    var generator = Generator(state: seed)
    let events = (0..<count).map { _ in realisticEvent(&generator) }
    let rows = chainedRows(events, after: raw.head(), start: Int64(Date().timeIntervalSince1970 * 1_000_000), step: 1)
    let started = ContinuousClock.now
    raw.insert(rows, batch: batch)
    raw.indexAll()
    let elapsed = seconds(ContinuousClock.now - started)
    let label = "floor: raw C, \(batch)-row transactions"
    print(String(format: "    %-38@ %8d rows %8.2f s %10.0f rows/s", label, count, elapsed, Double(count) / elapsed))
    return Ingest(name: "floor", rows: count, seconds: elapsed)
}

var figures: [String: Double] = [:]
for (label, source) in [("empty", nil), ("prefilled", template)] as [(String, String?)] {
    print(
        "ingest into \(label == "empty" ? "an empty database" : "a database pre-filled with \(options.prefill) records"):"
    )
    let path = "\(options.workdir)/run-\(label).db"
    removeDatabase(path)
    if let source {
        try FileManager.default.copyItem(atPath: source, toPath: path)
    } else {
        try await AuditStore(path: path).close()
    }
    let rows = options.rows
    let floor = floorIngest(path, count: rows, seed: 11)
    let floor64 = floorIngest(path, count: rows / 4, batch: 64, seed: 16)
    let group64 = try await storeIngest(path, appenders: 64, count: rows, seed: 12)
    let group8 = try await storeIngest(path, appenders: 8, count: rows / 2, seed: 13)
    let group1 = try await storeIngest(path, appenders: 1, count: rows / 20, seed: 14)
    let perRow = try await storeIngest(path, appenders: 64, count: rows / 20, batch: 1, seed: 15)
    figures["\(label)_floor_rows_per_s"] = floor.rate
    figures["\(label)_group_commit_64_rows_per_s"] = group64.rate
    figures["\(label)_group_commit_8_rows_per_s"] = group8.rate
    figures["\(label)_group_commit_1_rows_per_s"] = group1.rate
    figures["\(label)_one_commit_per_row_64_rows_per_s"] = perRow.rate
    figures["\(label)_floor_64_row_rows_per_s"] = floor64.rate
    figures["\(label)_store_over_floor_64"] = group64.rate / floor.rate
    figures["\(label)_store_over_floor_64_row"] = group64.rate / floor64.rate
    print(
        String(
            format: "    group commit (64) / floor: %.2f; / the 64-row floor: %.2f", group64.rate / floor.rate,
            group64.rate / floor64.rate))
    if label == "empty" { removeDatabase(path) }
}

// MARK: Query latency and verify throughput on the pre-filled database

/// The median and the 99th percentile of `values`.
func percentiles(_ values: [Double]) -> (p50: Double, p99: Double) {
    let sorted = values.sorted()
    return (sorted[sorted.count / 2], sorted[sorted.count * 99 / 100])
}

let queried = "\(options.workdir)/run-prefilled.db"
let store = try AuditStore(path: queried)
var generator = Generator(state: 99)
var latencies: [Double] = []
var found = 0
let dayAgo = Date().addingTimeInterval(-86_400)
for _ in 0..<2_000 {
    let user = "user\(String(format: "%05d", generator.below(10_000)))"
    let started = ContinuousClock.now
    for try await _ in store.records(matching: RecordFilter(user: user, signal: .userLoginFailed, since: dayAgo)) {
        found += 1
    }
    latencies.append(seconds(ContinuousClock.now - started) * 1_000)
}
let (p50, p99) = percentiles(latencies)
print(
    String(
        format: "query \"one user's failures in the last day\": p50 %.3f ms, p99 %.3f ms (%d rows over 2,000 queries)",
        p50, p99, found))

let verifyStart = ContinuousClock.now
let report = try await store.verify()
let verifySeconds = seconds(ContinuousClock.now - verifyStart)
guard report.ok else {
    print("verify failed: \(report.problem!)")
    exit(1)
}
print(
    String(
        format: "verify: %d records in %.2f s, %.0f records/s", report.checked, verifySeconds,
        Double(report.checked) / verifySeconds))

// "Who was logged in at T" (`last --present`) at random times over the 30 days, one account's
// sessions (`last --user`), and `lastlog` for one account and for all of them.
/// Takes a session and drops it: outside the main actor, so that each session does not cost a hop
/// to the main actor that a closure written in this top-level code would make.
nonisolated func discard(_ session: WireSession) async {}
var presentLatencies: [Double] = []
var presentFound = 0
let boot = BootContext(bootID: "bench-boot-\(options.prefill / Generator.eventsPerBoot)", bootTime: nil)
for _ in 0..<500 {
    let offset = Int64(generator.below(30 * 86_400)) * 1_000_000
    let instant = Date(timeIntervalSince1970: Double(nowMicros - offset) / 1_000_000)
    let started = ContinuousClock.now
    presentFound += try await store.sessions(matching: SessionFilter(present: instant), context: boot, each: discard)
    presentLatencies.append(seconds(ContinuousClock.now - started) * 1_000)
}
let present = percentiles(presentLatencies)
var userSessionLatencies: [Double] = []
var accountLatencies: [Double] = []
for _ in 0..<500 {
    let user = "user\(String(format: "%05d", generator.below(10_000)))"
    var started = ContinuousClock.now
    _ = try await store.sessions(matching: SessionFilter(user: user), context: boot, each: discard)
    userSessionLatencies.append(seconds(ContinuousClock.now - started) * 1_000)
    started = ContinuousClock.now
    _ = try await store.accounts(matching: AccountFilter(user: user))
    accountLatencies.append(seconds(ContinuousClock.now - started) * 1_000)
}
let userSessions = percentiles(userSessionLatencies)
let oneAccount = percentiles(accountLatencies)
let allAccountsStart = ContinuousClock.now
let accountCount = try await store.accounts(matching: AccountFilter()).count
let allAccountsMilliseconds = seconds(ContinuousClock.now - allAccountsStart) * 1_000
print(
    String(
        format: "last --present T: p50 %.3f ms, p99 %.3f ms (%.0f sessions per instant on average)", present.p50,
        present.p99, Double(presentFound) / 500))
print(String(format: "last --user U: p50 %.3f ms, p99 %.3f ms", userSessions.p50, userSessions.p99))
print(
    String(
        format: "lastlog --user U: p50 %.3f ms, p99 %.3f ms; lastlog (all %d accounts): %.1f ms", oneAccount.p50,
        oneAccount.p99, accountCount, allAccountsMilliseconds))
figures["last_present_p50_ms"] = present.p50
figures["last_present_p99_ms"] = present.p99
figures["last_user_p50_ms"] = userSessions.p50
figures["last_user_p99_ms"] = userSessions.p99
figures["lastlog_user_p50_ms"] = oneAccount.p50
figures["lastlog_user_p99_ms"] = oneAccount.p99
figures["lastlog_all_ms"] = allAccountsMilliseconds

try await store.close()
removeDatabase(queried)

figures["query_p50_ms"] = p50
figures["query_p99_ms"] = p99
figures["verify_records_per_s"] = Double(report.checked) / verifySeconds
figures["prefill_records"] = Double(options.prefill)
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
print(String(decoding: try encoder.encode(figures), as: UTF8.self))
