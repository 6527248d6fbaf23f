public import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation
import Systemd

/// `authsignal`: send auth events to authsignald, query and follow the audit log, verify it.
@main
struct AuthSignalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authsignal",
        abstract: "Send authentication events to authsignald and read its audit log.",
        discussion: """
            Exit status: 0 success (for query: records matched), 1 no records matched, 2 the daemon \
            refused the request as invalid, 3 daemon unreachable or unavailable, 4 forbidden, 5 verify \
            found tampering, 64 wrong usage (including a secret given on the command line). See docs/cli.md.
            """,
        subcommands: [
            Send.self, Query.self, Follow.self, Report.self, Verify.self, Stats.self, Ping.self, Hash.self, Pam.self,
        ])
}

/// Options every command that talks to the daemon takes.
struct Connection: ParsableArguments {
    @Option(help: "The daemon's socket (default: $AUTHSIGNAL_SOCKET, else \(DaemonConnection.defaultPath)).")
    var socket: String?

    func open() throws -> DaemonConnection {
        do {
            return try DaemonConnection(path: DaemonConnection.socketPath(socket))
        } catch {
            throw fail(error)
        }
    }
}

/// Whose journal entries count as the daemon's (docs/journal.md): the stamps journald sets and a
/// writer cannot choose.
struct JournalWriterOptions: ParsableArguments {
    @Option(
        name: .customLong("journal-unit"),
        help: ArgumentHelp(
            "Read only entries journald stamped with this _SYSTEMD_UNIT; none: a daemon run outside systemd.",
            valueName: "unit"))
    var unit = TrustedJournalWriter.serviceUnit
    @Option(
        name: .customLong("journal-uid"),
        help: ArgumentHelp(
            "Read only entries stamped with this _UID, a number or an account (default: the authsignald "
                + "account for this host's journal, any uid for --journal-directory).",
            valueName: "uid"))
    var uid: String?

    func validate() throws {
        if let uid, UInt32(uid) == nil, getpwnam(uid) == nil {
            throw ValidationError("--journal-uid: no account \(uid)")
        }
    }

    /// The writer these options name; `collected` for files from other hosts.
    func writer(collected: Bool) -> TrustedJournalWriter {
        let base: TrustedJournalWriter = collected ? .collected : .local
        let account = uid.flatMap { UInt32($0) ?? getpwnam($0).map { $0.pointee.pw_uid } }
        return TrustedJournalWriter(unit: unit == "none" ? nil : unit, uid: uid == nil ? base.uid : account)
    }
}

/// Where `query`, `follow` and `report` read history: the daemon (default), an audit log file
/// read-only, or the audit entries in journals (this host's, or files collected from a fleet).
struct HistorySource: ParsableArguments {
    @OptionGroup var connection: Connection
    @Option(help: "Read this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
    var database: String?
    @Flag(help: "Read the audit entries in this host's journal (adds a HOST column).") var journal = false
    @Option(
        name: .customLong("journal-directory"),
        help: "Read the audit entries in the journal files in this directory (many hosts': docs/fleet.md).")
    var journalDirectory: String?
    @OptionGroup var writer: JournalWriterOptions

    /// Whether records come from journals, and so carry a host.
    var readsJournal: Bool { journal || journalDirectory != nil }

    func validate() throws {
        if [database != nil, journal, journalDirectory != nil].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --database, --journal and --journal-directory")
        }
    }

    /// Opens the journal this source names.
    func openJournal() throws -> JournalHistory {
        do {
            return try JournalHistory(
                directory: journalDirectory, writer: writer.writer(collected: journalDirectory != nil))
        } catch {
            FileHandle.standardError.write(Data("authsignal: cannot open the journal: \(error)\n".utf8))
            throw ExitCode(3)
        }
    }

    /// Reads the records a `query` request object asks for; returns how many there were.
    func records(_ request: JSONObject, each: (JSONObject) throws -> Void) async throws -> Int {
        if database == nil && !readsJournal {
            do {
                let answer = try connection.open().request(request, record: each)
                return Int(answer["count"]?.intValue ?? 0)
            } catch {
                throw fail(error)
            }
        }
        let filter = try Self.filter(request)
        do {
            if let database { return try await AuditLogFile.records(database: database, matching: filter, each: each) }
            return try openJournal().records(matching: filter, each: each)
        } catch {
            throw failReading(error)
        }
    }

    /// The filter a request object describes (the daemon's own decoding, so both agree).
    static func filter(_ request: JSONObject) throws -> RecordFilter {
        do {
            switch try ProtocolRequest.decode(request) {
            case .query(let filter), .follow(let filter): return filter
            default: throw ValidationError("not a query")
            }
        } catch let error as ProtocolError {
            throw ValidationError(error.message)
        }
    }
}

/// Prints an error reading a database file or journal; exit status 3 (unavailable).
func failReading(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
    return ExitCode(3)
}

/// Prints the error and gives the documented exit status.
func fail(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
    if let error = error as? ClientError { return ExitCode(error.exitStatus) }
    return ExitCode(2)
}

func printOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

extension Optional where Wrapped == JSONValue {
    /// A number or string as plain text (`?` when absent).
    var text: String {
        switch self {
        case .int(let number)?: String(number)
        case .string(let text)?: text
        case let value?: String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
        case nil: "?"
        }
    }
}

/// The record filters of `query` and `follow`.
struct Filters: ParsableArguments {
    @Option(help: "Only this account.") var user: String?
    @Option(help: "Only this signal: login, logout, failed (or the wire names).") var signal: String?
    @Option(help: "Only this sender (sshd, login, ...).") var sender: String?
    @Option(name: .customLong("remote-addr"), help: "Only this remote address.") var remoteAddr: String?
    @Option(help: "From this time: RFC 3339, today, yesterday, recent, this-week, -1h, '2 hours ago'.")
    var since: String?
    @Option(help: "Before this time (same forms as --since).") var until: String?
    @Option(name: .customLong("after-seq"), help: "Only records after this seq.") var afterSeq: Int64?

    func request(op: String, now: Date = Date()) throws -> JSONObject {
        var request: JSONObject = ["op": .string(op)]
        if let user { request["user"] = .string(user) }
        if let signal {
            guard let parsed = AuthSignal(name: signal) else {
                throw ValidationError("--signal must be login, logout or failed")
            }
            request["signal"] = .string(parsed.rawValue)
        }
        if let sender { request["sender"] = .string(sender) }
        if let remoteAddr { request["remote_addr"] = .string(remoteAddr) }
        for (name, text) in [("since", since), ("until", until)] {
            guard let text else { continue }
            guard let date = TimeExpression.parse(text, now: now) else {
                throw ValidationError("--\(name): cannot read '\(text)' as a time")
            }
            request[name] = .string(RFC3339.format(date))
        }
        if let afterSeq { request["after_seq"] = .int(afterSeq) }
        return request
    }
}

extension OutputFormat: ExpressibleByArgument {}

/// Whether colour may be used: a terminal, and no NO_COLOR.
var stdoutIsColourTerminal: Bool {
    isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
}

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send an event: login, logout or login-failed (or --json: protocol objects from stdin).",
        discussion: """
            Secrets never go on the command line (where ps shows them): give a credential's value as \
            KEY=@- to read it from stdin, or KEY=@FILE to read it from a file. A sensitive-looking key \
            (password, token, secret, ...) with an inline value is refused.
            """)

    @OptionGroup var connection: Connection
    @Argument(help: "login, logout or login-failed.") var kind: String?
    @Option(help: "The account.") var user: String?
    @Option(help: "Who reports the event (sshd, login, a script's name).") var sender = "authsignal"
    @Option(name: .customLong("remote-addr"), help: "The remote address.") var remoteAddr: String?
    @Option(name: .customLong("request"), help: "A request field KEY=VALUE (repeatable).") var requestFields: [String] =
        []
    @Option(name: .customLong("credential"), help: "A credential KEY=@- (stdin), KEY=@FILE or KEY=VALUE (repeatable).")
    var credentialFields: [String] = []
    @Option(help: "Idempotency key: a repeat is stored once.") var id: String?
    @Option(help: "When it happened at the source (same forms as query --since).") var time: String?
    @Flag(help: "Read complete protocol objects from stdin, one per line, and send them pipelined.") var json = false

    func run() throws {
        let daemon = try connection.open()
        if json { return try sendJSON(daemon) }
        guard let kind, let signal = Self.signal(kind) else {
            throw ValidationError("say what happened: login, logout or login-failed")
        }
        var request: JSONObject = [
            "op": .string("emit"), "signal": .string(signal.rawValue), "sender": .string(sender),
        ]
        if let user { request["user"] = .string(user) }
        var details = try Self.pairs(requestFields, what: "--request").mapValues { JSONValue.string($0) }
        if let remoteAddr { details["remote_addr"] = .string(remoteAddr) }
        if !details.isEmpty { request["request"] = .object(details) }
        let credentials = try Self.credentials(credentialFields)
        if !credentials.isEmpty { request["credentials"] = .object(credentials) }
        if let id { request["id"] = .string(id) }
        if let time {
            guard let date = TimeExpression.parse(time) else { throw ValidationError("--time: cannot read '\(time)'") }
            request["time"] = .string(RFC3339.format(date))
        }
        do {
            let answer = try daemon.request(request)
            printOut(Self.describe(answer) + "\n")
        } catch {
            throw fail(error)
        }
    }

    /// Pipelines every stdin line; prints one result per line; exits 3 if any failed.
    private func sendJSON(_ daemon: DaemonConnection) throws {
        var lines: [[UInt8]] = []
        while let line = readLine(strippingNewline: true) {
            if !line.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(Array(line.utf8) + [10]) }
        }
        var failures = 0
        var index = 0
        let window = 128
        let progress = Progress()
        defer { progress.done() }
        var sent = 0
        do {
            while index < lines.count {
                while sent < lines.count, sent - index < window {
                    try daemon.send(bytes: lines[sent])
                    sent += 1
                }
                progress.update(index + 1, of: lines.count, what: "events")
                do {
                    printOut(Self.describe(try daemon.answer()) + "\n")
                } catch ClientError.daemon(let code, let message) {
                    failures += 1
                    printOut("line \(index + 1): \(code): \(message)\n")
                }
                index += 1
            }
        } catch {
            throw fail(error)
        }
        if failures > 0 {
            FileHandle.standardError.write(
                Data("authsignal: \(failures) of \(lines.count) events were not stored\n".utf8))
            throw ExitCode(3)
        }
    }

    static func describe(_ answer: JSONObject) -> String {
        guard case .int(let seq)? = answer["seq"] else { return "ok" }
        return answer["duplicate"] == .bool(true) ? "seq \(seq) (duplicate: stored before)" : "seq \(seq)"
    }

    static func signal(_ kind: String) -> AuthSignal? {
        switch kind {
        case "login", "logged-in": .userLoggedIn
        case "logout", "logged-out": .userLoggedOut
        case "login-failed", "failed": .userLoginFailed
        default: AuthSignal(rawValue: kind)
        }
    }

    static func pairs(_ fields: [String], what: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for field in fields {
            let (key, value) = try split(field, usage: "\(what) takes KEY=VALUE")
            result[key] = value
        }
        return result
    }

    /// `KEY=VALUE` as its two parts; `usage` is the error when there is no key.
    static func split(_ field: String, usage: String) throws -> (key: String, value: String) {
        guard let equals = field.firstIndex(of: "="), equals != field.startIndex else { throw ValidationError(usage) }
        return (String(field[..<equals]), String(field[field.index(after: equals)...]))
    }

    /// Credential values: `@-` from stdin (one line), `@FILE` from a file (trailing newline
    /// removed); an inline value only for keys that do not look sensitive.
    static func credentials(_ fields: [String]) throws -> JSONObject {
        var result = JSONObject()
        var stdinUsed = false
        for field in fields {
            let (key, value) = try split(field, usage: "--credential takes KEY=@- (stdin), KEY=@FILE or KEY=VALUE")
            if value == "@-" {
                guard !stdinUsed else { throw ValidationError("only one credential can be read from stdin") }
                stdinUsed = true
                result[key] = .string(readLine(strippingNewline: true) ?? "")
            } else if value.hasPrefix("@") {
                let path = String(value.dropFirst())
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ValidationError("--credential \(key): cannot read \(path)")
                }
                var text = String(decoding: data, as: UTF8.self)
                if text.hasSuffix("\n") { text.removeLast() }
                result[key] = .string(text)
            } else {
                guard !Redactor.looksSensitive(key) else {
                    // The value is not repeated: it is a secret already exposed on the command line.
                    throw ValidationError(
                        "--credential \(key) looks secret: do not put its value on the command line "
                            + "(ps shows it); pass \(key)=@- and write the value to stdin, or \(key)=@FILE")
                }
                result[key] = .string(value)
            }
        }
        return result
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print audit records matching filters.")

    @OptionGroup var source: HistorySource
    @OptionGroup var filters: Filters
    @Option(help: "At most this many records.") var limit: Int?
    @Flag(help: "Newest first.") var reverse = false
    @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

    func run() async throws {
        var request = try filters.request(op: "query")
        if let limit { request["limit"] = .int(Int64(limit)) }
        if reverse { request["order"] = .string("desc") }
        let printer = RecordPrinter(
            format: format, colour: format == .table && stdoutIsColourTerminal, hosts: source.readsJournal,
            terminal: isatty(1) == 1, write: printOut)
        let count = try await source.records(request) { printer.add($0) }
        printer.finish()
        if count == 0 {
            if format == .table { FileHandle.standardError.write(Data("no records matched\n".utf8)) }
            if source.journal && getuid() != 0 {
                // sd_journal shows other users only their own entries, without an error.
                FileHandle.standardError.write(
                    Data("(the system journal is readable only by root and groups systemd-journal and adm)\n".utf8))
            }
            throw ExitCode(1)
        }
    }
}

struct Follow: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print records as they are stored, until Ctrl-C or daemon shutdown.")

    @OptionGroup var source: HistorySource
    @OptionGroup var filters: Filters
    @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

    func validate() throws {
        if source.database != nil { throw ValidationError("follow reads the daemon or a journal, not --database") }
    }

    func run() throws {
        let request = try filters.request(op: "follow")
        // A parent may have started us with signals blocked; Ctrl-C must work.
        var interrupts = sigset_t()
        sigemptyset(&interrupts)
        sigaddset(&interrupts, SIGINT)
        sigaddset(&interrupts, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &interrupts, nil)
        signal(SIGTERM) { _ in _exit(0) }
        signal(SIGINT) { _ in
            let message = "\nauthsignal: follow stopped\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            _exit(0)
        }
        let printer = RecordPrinter(
            format: format, colour: format == .table && stdoutIsColourTerminal, streaming: true,
            hosts: source.readsJournal, terminal: isatty(1) == 1, write: printOut)
        if source.readsJournal {
            let filter = try HistorySource.filter(request)
            do {
                try source.openJournal().follow(matching: filter) { printer.add($0) }
            } catch {
                throw failReading(error)
            }
        }
        do {
            let answer = try source.connection.open().request(request) { printer.add($0) }
            printer.finish()
            let count = answer["count"].text
            FileHandle.standardError.write(
                Data("authsignal: the daemon ended the follow (shutting down); \(count) records\n".utf8))
        } catch {
            throw fail(error)
        }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a time range: counts, top failing accounts and addresses, a histogram, attack hints.")

    @OptionGroup var source: HistorySource
    @Option(help: "From this time (default: today).") var since = "today"
    @Option(help: "Before this time (default: now).") var until: String?
    @Option(help: "How many accounts and addresses to list.") var top = 10
    @Option(help: "Failures of one account within --window that count as brute force.") var threshold = 5
    @Option(help: "The brute-force window, in minutes.") var window = 10
    @Option(help: "Accounts one password must be tried against to count as spraying.") var sprayAccounts = 3

    func run() async throws {
        let filters = try Filters.parse(["--since=\(since)"] + (until.map { ["--until=\($0)"] } ?? []))
        let request = try filters.request(op: "query")
        var span: TimeInterval = 86400
        if let start = request["since"]?.stringValue.flatMap(RFC3339.parse) {
            span = (request["until"]?.stringValue.flatMap(RFC3339.parse) ?? Date()).timeIntervalSince(start)
        }
        var report = AuthSignalClient.Report(bucket: span > 2 * 86400 ? 86400 : 3600)
        let progress = Progress()
        _ = try await source.records(request) { record in
            report.add(record)
            progress.update(report.total, of: nil, what: "records")
        }
        progress.done()
        printOut("Records: \(report.total)\n")
        for signal in AuthSignal.allCases {
            printOut(
                "  \(signal.shortName.padding(toLength: 8, withPad: " ", startingAt: 0))\(report.perSignal[signal] ?? 0)\n"
            )
        }
        if !report.perHost.isEmpty {
            printOut("\nRecords by host:\n")
            for (host, count) in AuthSignalClient.Report.top(report.perHost, report.perHost.count) {
                printOut("  \(String(count).leftPadded(7))  \(RecordPrinter.escaped(host))\n")
            }
        }
        for (title, table) in [("accounts", report.failuresPerUser), ("remote addresses", report.failuresPerAddress)] {
            let rows = AuthSignalClient.Report.top(table, top)
            guard !rows.isEmpty else { continue }
            printOut("\nFailures by \(title) (top \(rows.count)):\n")
            for (name, count) in rows { printOut("  \(String(count).leftPadded(7))  \(RecordPrinter.escaped(name))\n") }
        }
        if !report.buckets.isEmpty {
            printOut("\nRecords per \(report.bucket >= 86400 ? "day" : "hour"):\n")
            let largest = report.buckets.values.max() ?? 1
            let formatter = DateFormatter()
            formatter.dateFormat = report.bucket >= 86400 ? "yyyy-MM-dd" : "yyyy-MM-dd HH:00"
            for start in report.buckets.keys.sorted() {
                let count = report.buckets[start] ?? 0
                let bar = String(repeating: "#", count: max(1, count * 40 / largest))
                printOut("  \(formatter.string(from: start))  \(String(count).leftPadded(7))  \(bar)\n")
            }
        }
        let bursts = report.bursts(threshold: threshold, window: TimeInterval(window * 60))
        if !bursts.isEmpty {
            printOut("\nAccounts with \(threshold)+ failures within \(window) minutes (brute force?):\n")
            for hint in bursts {
                printOut(
                    "  \(RecordPrinter.escaped(hint.user)): \(hint.failures) failures from \(RFC3339.format(hint.start))\n"
                )
            }
        }
        let sprays = report.sprays(threshold: sprayAccounts)
        if !sprays.isEmpty {
            printOut("\nOne password tried against \(sprayAccounts)+ accounts (spraying?):\n")
            for hint in sprays { printOut("  \(hint.secretHash): \(hint.accounts) accounts\n") }
        }
    }
}

/// A one-line progress counter on stderr, shown only when stderr is a terminal and only every
/// 10,000 items, so that piped output and short runs stay quiet.
final class Progress {
    private let enabled = isatty(2) == 1
    private var shown = false

    func update(_ count: Int, of total: Int?, what: String) {
        guard enabled, count % 10_000 == 0 else { return }
        shown = true
        let text = total.map { "\r\(count)/\($0) \(what)" } ?? "\r\(count) \(what)"
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Shows `text` as the status line until ``done()`` (on a terminal only).
    func note(_ text: String) {
        guard enabled else { return }
        shown = true
        FileHandle.standardError.write(Data("\r\(text)".utf8))
    }

    func done() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the audit log's hash chain, and compare it with the chain anchors in the journal.",
        discussion: """
            Through the daemon by default, or offline with --database (read-only). Anchors come from this \
            host's journal, or from --journal-directory; only anchors of the same log (its log id) count. \
            Exit status 5 when the log was tampered with.
            """)

    @OptionGroup var connection: Connection
    @Option(help: "Verify this audit log file read-only, without the daemon (a copy with its -wal file is fine).")
    var database: String?
    @Option(
        name: .customLong("journal-directory"), help: "Read the chain anchors from the journal files in this directory."
    )
    var journalDirectory: String?
    @OptionGroup var writer: JournalWriterOptions
    @Flag(name: .customLong("no-journal"), help: "Do not compare with journal anchors.") var noJournal = false
    @Option(help: "First seq to check.") var from: Int64?
    @Option(help: "Last seq to check.") var to: Int64?

    func run() async throws {
        // The journal holds anchors only where the daemon wrote them; without one, the chain is
        // still checked on its own.
        let journal =
            noJournal
            ? nil
            : try? JournalHistory(
                directory: journalDirectory, writer: writer.writer(collected: journalDirectory != nil))
        let progress = Progress()
        progress.note("verifying the hash chain…")
        let result: Verification
        do {
            if let database {
                result = try await Verifier.verify(database: database, from: from, to: to, journal: journal)
            } else {
                result = try Verifier.verify(daemon: connection.open(), from: from, to: to, journal: journal)
            }
            progress.done()
        } catch let error as ClientError {
            progress.done()
            throw fail(error)
        } catch {
            progress.done()
            throw failReading(error)
        }
        if let problem = result.problem {
            printOut("TAMPERED: first bad record \(problem.seq): \(problem.description)\n")
            throw ExitCode(5)
        }
        printOut("chain intact: \(result.checked) records verified\n")
        if let latest = result.latestAnchor {
            printOut(
                "journal anchors: \(result.anchorsFound) found for log \(result.logID ?? "?"); the log agrees with the newest (record \(latest))\n"
            )
        } else if !noJournal {
            printOut("journal anchors: none found for this log (the chain was checked on its own)\n")
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's counters (or, with --database, the totals of an audit log file).")

    @OptionGroup var connection: Connection
    @Option(help: "Read this audit log file read-only, without the daemon.") var database: String?
    @Flag(help: "Print the daemon's JSON answer.") var json = false

    func run() async throws {
        let answer: JSONObject
        if let database {
            do {
                answer = try await AuditLogFile.stats(database: database)
            } catch {
                throw failReading(error)
            }
        } else {
            do {
                answer = try connection.open().request(["op": .string("stats")])
            } catch {
                throw fail(error)
            }
        }
        if json {
            printOut(String(decoding: CanonicalJSON.encode(answer), as: UTF8.self) + "\n")
            return
        }
        func flatten(_ object: JSONObject, prefix: String) {
            for key in object.keys.sorted() where key != "ok" {
                if case .object(let inner)? = object[key] {
                    flatten(inner, prefix: prefix + key + ".")
                } else if let value = object[key] {
                    let text = value.stringValue ?? String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
                    printOut("\(prefix)\(key): \(text)\n")
                }
            }
        }
        flatten(answer, prefix: "")
    }
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the daemon answers.")

    @OptionGroup var connection: Connection

    func run() throws {
        do {
            let answer = try connection.open().request(["op": .string("ping")])
            printOut("authsignald pid \(answer["pid"].text) speaks protocol \(answer["protocol"].text)\n")
        } catch {
            throw fail(error)
        }
    }
}

struct Hash: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a value from stdin and print the keyed hash the daemon would store for it.",
        discussion: "Answers \"did this password appear?\": query for the printed hmac-sha256 value.")

    @Option(name: .customLong("key-file"), help: "The daemon's redaction key.")
    var keyFile = "/var/lib/authsignald/redaction.key"

    func run() throws {
        let value = readLine(strippingNewline: true) ?? ""
        let key: RedactionKey
        do {
            key = try RedactionKey.load(at: keyFile)
        } catch {
            throw fail(error)
        }
        printOut(Redactor(mode: .hmac, key: key).keyedHash(value) + "\n")
    }
}

struct Pam: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "PAM hook for pam_exec.so: reports the PAM event to authsignald (docs/pam.md).",
        discussion: """
            Maps PAM_TYPE auth (a failed authentication, when placed as in etc/pam.d/authsignal) to \
            user_login_failed, open_session to user_logged_in and close_session to user_logged_out; \
            sender is PAM_SERVICE. It never reads the password, even with expose_authtok. It finishes \
            within --timeout whatever the daemon does: an event not acknowledged by then is left in the \
            spool, which the daemon drains when it can, and the failure is reported to the journal. By \
            default it always exits 0, so a stopped daemon cannot lock anyone out; --required makes an \
            event not stored now fail the PAM stack.
            """)

    @OptionGroup var connection: Connection
    @Flag(help: "Exit non-zero when the event is not stored now (spooled, refused or lost).") var required = false
    @Option(help: "How long connecting, sending and waiting for the acknowledgement may take (500ms, 2s).")
    var timeout = HookTimeout(duration: .milliseconds(500))
    @Option(
        help:
            "Where to leave events the daemon did not take (default: $AUTHSIGNAL_SPOOL, else \(Spool.defaultDirectory))."
    )
    var spool: String?

    func run() throws {
        let deadline = ContinuousClock.now + timeout.duration
        // pam_exec's expose_authtok writes the password to stdin. It is drained and wiped, never
        // kept or forwarded (closing stdin instead could kill the PAM application with SIGPIPE).
        Self.discardStandardInput(until: deadline)
        let environment = ProcessInfo.processInfo.environment
        guard let request = PAMHook.request(environment: environment, id: "pam-" + UUID().uuidString, time: Date())
        else { return }
        let hook = PAMHook(
            socketPath: DaemonConnection.socketPath(connection.socket), spoolDirectory: SpoolWriter.directory(spool),
            timeout: timeout.duration)
        if !hook.deliver(request, deadline: deadline).isStored, required { throw ExitCode(1) }
    }

    /// Reads and wipes stdin until its end or `deadline` (a writer that never closes it must not
    /// hold the login).
    static func discardStandardInput(until deadline: ContinuousClock.Instant) {
        guard isatty(0) == 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            guard poll(&descriptor, 1, Int32(clamping: max(1, milliseconds))) > 0 else { break }
            if read(0, &buffer, buffer.count) <= 0 { break }
        }
        buffer.withUnsafeMutableBytes { raw in
            _ = memset(raw.baseAddress!, 0, raw.count)
        }
    }
}

/// A hook time bound: `500ms`, `2s`, `1.5s`, or a number of seconds.
struct HookTimeout: ExpressibleByArgument {
    let duration: Duration

    init(duration: Duration) {
        self.duration = duration
    }

    init?(argument: String) {
        let (number, scale): (Substring, Double) =
            if argument.hasSuffix("ms") { (argument.dropLast(2), 0.001) } else if argument.hasSuffix("s") {
                (argument.dropLast(), 1)
            } else { (Substring(argument), 1) }
        guard let value = Double(number), value > 0, value * scale <= 3600 else { return nil }
        duration = .milliseconds(Int64((value * scale * 1000).rounded()))
    }

    var defaultValueDescription: String { "500ms" }
}
