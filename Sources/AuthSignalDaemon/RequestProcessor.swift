package import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
import Foundation
package import Logging
import Synchronization
import Systemd

/// Where a request's record lines go: the connection, in request order. `write` returns once the
/// connection can take more (back-pressure), and throws once the connection is gone.
package protocol RecordOutput: Sendable {
    /// Writes record lines.
    func write(_ bytes: [UInt8]) async throws
}

/// What can change on reload: the configuration and what is built from it.
package struct Runtime: Sendable {
    /// The configuration in effect.
    package let config: DaemonConfig
    /// The redactor built from `[Redaction]`.
    package let redactor: Redactor
    /// The access policy built from `[Access]`.
    package let access: AccessPolicy
    /// Which names are accounts, as the redactor asks (through this cache).
    package let accounts: KnownAccounts

    /// Builds the runtime for `config` with the redaction `key`, asking `accounts` which names
    /// are accounts.
    package init(config: DaemonConfig, key: RedactionKey, accounts: KnownAccounts = .system) {
        self.config = config
        self.accounts = accounts
        redactor = Redactor(
            mode: config.redactionMode, key: key, patterns: config.patterns, hashUnknownUsers: config.hashUnknownUsers,
            isKnownAccount: accounts.contains)
        access = AccessPolicy(config)
    }
}

/// Serves request lines, for every source: decodes each, checks it against `[Access]` and what its
/// source may carry, and starts the work it asks for. The protocol's semantics, independent of
/// the transport; the one path by which events reach the store.
package final class RequestProcessor: Sendable {
    /// Record lines are written in chunks of about this many bytes.
    static let chunkBytes = 64 * 1024

    let store: AuditStore
    let receivers: AuditReceivers
    let journal: JournalSink?
    let followers: FollowerHub
    /// The counts `stats` and the status line report.
    package let counters: DaemonCounters
    private let runtimeState: Mutex<Runtime>
    /// The `hash` op's rate limit.
    let hashLookups = HashLookups()
    /// Where each keyed-hash look-up is recorded (who and when, never the value).
    let logger: Logger

    /// Creates a processor.
    package init(
        store: AuditStore, receivers: AuditReceivers, journal: JournalSink?, followers: FollowerHub, runtime: Runtime,
        counters: DaemonCounters = DaemonCounters(), logger: Logger = Logger(label: "authsignald")
    ) {
        self.logger = logger
        self.store = store
        self.receivers = receivers
        self.journal = journal
        self.followers = followers
        self.counters = counters
        runtimeState = Mutex(runtime)
    }

    /// The runtime in effect.
    package var runtime: Runtime {
        get { runtimeState.withLock { $0 } }
        set { runtimeState.withLock { $0 = newValue } }
    }

    /// Where a request line comes from, which decides what it may ask.
    package enum Source: Sendable {
        /// A client connection: any request.
        case connection
        /// A file of the PAM hook's spool: an emit only.
        case spool
    }

    /// The work a request starts (see ``serve(_:peer:from:)``).
    package enum Work: Sendable {
        /// An emit, to dispatch in the source's order (``Emit``).
        case emit(Emit)
        /// A read (or a ping), to run once every earlier request of the connection is answered:
        /// it writes record lines to the output and returns the fields of its final line.
        case read(@Sendable (any RecordOutput) async -> Result<any ProtocolAnswer, ProtocolError>)
        /// Refused before anything was done.
        case refused(ProtocolError)
    }

    /// A permitted emit, ready to go: ``dispatch`` redacts it and sends its auth signal, and
    /// returns the ticket that completes when the record is durable.
    package struct Emit: Sendable {
        /// Whether ``dispatch`` may block: redaction must ask NSS about a name the account cache
        /// does not answer, and NSS has a source that may wait (sssd or LDAP can take seconds),
        /// so it is to run off the event loop. With local sources only (`files`, `systemd`) the
        /// look-up answers at once and runs in place.
        package let mayBlock: Bool
        /// Redacts and sends; call once, in the order the source sent its emits.
        package let dispatch: @Sendable () -> AppendTicket
    }

    /// A request line taken up: its op, once decoded (for the request signals), and its work.
    package struct Served: Sendable {
        /// The request's op; `nil` for a line that is no request.
        package let op: String?
        /// What the request started.
        package let work: Work
    }

    /// Decodes `line` from `peer`, checks that `[Access]` and `source` allow it, and starts
    /// serving it. An emit is returned ready to dispatch, which the source does in the order it
    /// sent them; a read is returned to be run when its turn comes.
    package func serve(_ line: some Collection<UInt8>, peer: PeerIdentity, from source: Source) -> Served {
        let request: ProtocolRequest
        do {
            request = try ProtocolRequest.decode(line)
        } catch {
            return Served(op: nil, work: .refused(error))
        }
        if source == .spool, AccessClass(request) != .emit {
            return Served(op: request.op, work: .refused(ProtocolError(.invalidRequest, "not an emit request")))
        }
        guard runtime.access.permits(request, peer: peer) else {
            let error = ProtocolError(
                .forbidden,
                "uid \(peer.credentials.uid) may not \(AccessClass(request).activity) (see [Access] in authsignald.conf)"
            )
            return Served(op: request.op, work: .refused(error))
        }
        return Served(op: request.op, work: work(for: request, peer: peer))
    }

    /// The work of a permitted `request`.
    private func work(for request: ProtocolRequest, peer: PeerIdentity) -> Work {
        switch request {
        case .emit(let event):
            let runtime = self.runtime
            let receivers = self.receivers
            let mayBlock =
                runtime.accounts.lookUpMayBlock
                && runtime.redactor.accountNames(in: event).contains { runtime.accounts.cachedAnswer($0) == nil }
            return .emit(
                Emit(mayBlock: mayBlock) { receivers.dispatch(runtime.redactor.redact(event, peer: peer.credentials)) })
        case .query(let filter):
            return .read { output in await self.streamQuery(filter, output: output) }
        case .follow(let query):
            return .read { output in await self.follow(query, output: output) }
        case .stats:
            return .read { _ in await self.stats() }
        case .verify(let from, let to):
            return .read { _ in await self.verify(from: from, to: to) }
        case .hash(let value, let senderUID):
            return .read { _ in self.hash(value, senderUID: senderUID ?? 0, peer: peer) }
        case .sessions(let filter):
            return .read { output in await self.streamSessions(filter, output: output) }
        case .accounts(let filter):
            return .read { output in await self.streamAccounts(filter, output: output) }
        case .verdicts(let since, let until):
            return .read { output in await self.streamVerdicts(since: since, until: until, output: output) }
        case .notice(let user, let remoteAddr, let periodDays):
            return .read { _ in
                do {
                    return .success(
                        try await self.store.notice(
                            user: user, remoteAddr: remoteAddr, periodDays: periodDays,
                            settings: self.runtime.config.verdicts))
                } catch {
                    return .failure(ProtocolError(.unavailable, "the audit log cannot be read now: \(error)"))
                }
            }
        case .ping:
            return .read { _ in
                .success(
                    PingAnswer(
                        protocolVersion: Int64(WireProtocol.version), pid: Int64(getpid()), daemon: "authsignald"))
            }
        }
    }

    /// An emit's acknowledgement.
    static func acknowledgement(_ appended: Appended) -> any ProtocolAnswer {
        EmitAnswer(seq: appended.seq, duplicate: appended.duplicate)
    }

    private func streamQuery(_ filter: RecordFilter, output: some RecordOutput) async -> Result<
        any ProtocolAnswer, ProtocolError
    > {
        let count: Int
        do {
            // A page at a time (512 records, about 200 KiB), written as the store produced it.
            count = try await store.recordLines(matching: filter) { lines in try await output.write(lines) }
        } catch let error as StoreError {
            return .failure(ProtocolError(.unavailable, "the audit log cannot be read now: \(error)"))
        } catch is ConnectionGone {
            return .failure(ProtocolError(.unavailable, "connection closed"))
        } catch {
            return .failure(ProtocolError(.internal, "query failed"))
        }
        return .success(CountAnswer(count: count))
    }

    /// Streams the sessions `filter` selects, judged against this host's boot.
    private func streamSessions(_ filter: SessionFilter, output: some RecordOutput) async -> Result<
        any ProtocolAnswer, ProtocolError
    > {
        await streamLines(output) { write in
            try await self.store.sessions(matching: filter) { session in try await write(session.line) }
        }
    }

    /// Streams the accounts `filter` selects.
    private func streamAccounts(_ filter: AccountFilter, output: some RecordOutput) async -> Result<
        any ProtocolAnswer, ProtocolError
    > {
        await streamLines(output) { write in
            let accounts = try await self.store.accounts(matching: filter)
            for account in accounts { try await write(account.line) }
            return accounts.count
        }
    }

    /// Replays the log through the verdict rules with the running settings and streams the
    /// records they judge, each with its replayed verdicts.
    private func streamVerdicts(since: Date?, until: Date?, output: some RecordOutput) async -> Result<
        any ProtocolAnswer, ProtocolError
    > {
        let runtime = self.runtime
        return await streamLines(output) { write in
            let judged = try await self.store.judgedRecords(
                settings: runtime.config.verdicts, trusted: runtime.access.trusted, since: since, until: until)
            for record in judged {
                var line: [UInt8] = []
                record.wire.appendLine(to: &line)
                try await write(line)
            }
            return judged.count
        }
    }

    /// Runs `produce`, which passes each line to the writer it is given and returns how many it
    /// wrote; lines go out in chunks, and the final line is the count or the error.
    private func streamLines(
        _ output: some RecordOutput, produce: (_ write: ([UInt8]) async throws -> Void) async throws -> Int
    ) async -> Result<any ProtocolAnswer, ProtocolError> {
        var chunks = Chunks(output)
        do {
            let count = try await produce { line in try await chunks.append(line) }
            try await chunks.flush()
            return .success(CountAnswer(count: count))
        } catch is ConnectionGone {
            return .failure(ProtocolError(.unavailable, "connection closed"))
        } catch let error as StoreError {
            return .failure(ProtocolError(.unavailable, "the audit log cannot be read now: \(error)"))
        } catch {
            return .failure(ProtocolError(.unavailable, "the audit log cannot be read now"))
        }
    }

    /// Streams records as they commit. With `after_seq`, first replays the stored records after
    /// it, and with `since` the stored records from that time on; then continues live without a
    /// gap or a repeat.
    private func follow(_ query: RecordFilter, output: some RecordOutput) async -> Result<
        any ProtocolAnswer, ProtocolError
    > {
        var filter = query
        let subscription = followers.subscribe(filter)
        var lastSent = query.afterSeq ?? store.chainHead().seq
        var count = 0
        do {
            if query.afterSeq != nil || query.since != nil {
                let head = store.chainHead().seq
                filter.limit = nil
                var chunks = Chunks(output)
                for try await record in store.records(matching: filter) {
                    if record.seq > head { break }
                    try await chunks.append(record)
                    lastSent = record.seq
                    count += 1
                }
                try await chunks.flush()
            }
            for await record in subscription.records where record.seq > lastSent {
                var line: [UInt8] = []
                record.wire.appendLine(to: &line)
                try await output.write(line)
                lastSent = record.seq
                count += 1
            }
        } catch is ConnectionGone {
            return .failure(ProtocolError(.unavailable, "connection closed"))
        } catch {
            return .failure(ProtocolError(.unavailable, "the audit log cannot be read now"))
        }
        if let lost = subscription.firstLostSeq {
            return .failure(
                ProtocolError(
                    .unavailable,
                    "follower fell more than \(FollowerHub.bufferLimit) records behind; "
                        + "resume with after_seq \(lost - 1)"))
        }
        return .success(CountAnswer(count: count))
    }

    private func stats() async -> Result<any ProtocolAnswer, ProtocolError> {
        let stats: StoreStats
        do {
            stats = try await store.stats()
        } catch {
            return .failure(ProtocolError(.unavailable, "the audit log cannot be read now"))
        }
        let refused = counters.refusals
        let spooled = counters.spool.counters
        var journalCounters: StatsAnswer.Journal?
        if let journal, runtime.config.journalEnabled {
            let counters = journal.counters
            journalCounters = StatsAnswer.Journal(
                sent: counters.sent, dropped: counters.dropped, failed: counters.failed, queued: counters.queued,
                anchors: counters.anchors, anchorFailures: counters.anchorFailures, lag: counters.lag,
                fromLog: counters.fromLog)
        }
        let service = StatsAnswer.Service(
            committedTransactions: stats.committedTransactions, commitLatency: stats.commitLatency,
            stored: stats.storedSinceOpen,
            connections: counters.connections,
            followers: followers.count, uptimeSeconds: counters.uptime.components.seconds,
            redactionMode: runtime.config.redactionMode.rawValue, refused: refused,
            spool: StatsAnswer.Spool(
                directory: spooled.directory, stored: spooled.stored, refused: spooled.refused,
                pending: spooled.pending),
            journal: journalCounters, trusted: runtime.access.trusted,
            logLinesDropped: JournalDatagramSender.shared.dropped)
        return .success(
            StatsAnswer(log: StatsAnswer.Log(stats, head: store.chainHead(), logID: store.logID), service: service))
    }

    /// A keyed-hash look-up, within the caller's rate limit, recorded in the log (and so the
    /// journal) by who asked; the value is never logged.
    private func hash(_ value: String, senderUID: UInt32, peer: PeerIdentity) -> Result<
        any ProtocolAnswer, ProtocolError
    > {
        let who = peer.credentials
        let metadata: Logger.Metadata = ["uid": "\(who.uid)", "pid": "\(who.pid)", "op": "hash"]
        if let wait = hashLookups.admit(uid: who.uid) {
            logger.warning("keyed-hash look-up refused: uid \(who.uid) is over its rate limit", metadata: metadata)
            let seconds = max(1, wait.components.seconds)
            return .failure(
                ProtocolError(
                    .unavailable,
                    "more than \(hashLookups.limit) keyed-hash look-ups a minute; try again in \(seconds) s"))
        }
        logger.notice("keyed-hash look-up by uid \(who.uid) (pid \(who.pid))", metadata: metadata)
        return .success(HashAnswer(hash: runtime.redactor.keyedHash(value, senderUID: senderUID)))
    }

    private func verify(from: Int64?, to: Int64?) async -> Result<any ProtocolAnswer, ProtocolError> {
        let report: VerifyReport
        do {
            report = try await store.verify(from: from, to: to)
        } catch {
            return .failure(ProtocolError(.unavailable, "the audit log cannot be read now"))
        }
        let problem = report.problem.map { VerifyAnswer.Problem(seq: $0.seq, description: $0.description) }
        return .success(VerifyAnswer(checked: report.checked, first: report.first, last: report.last, problem: problem))
    }
}

/// Record lines gathered into writes of about ``RequestProcessor/chunkBytes``: a stream of small
/// lines leaves in few writes, and memory stays within one chunk whatever the stream's length.
private struct Chunks<Output: RecordOutput> {
    let output: Output
    private var chunk: [UInt8] = []

    init(_ output: Output) { self.output = output }

    /// Adds `line` (with its newline), writing the chunk once it is full.
    mutating func append(_ line: [UInt8]) async throws {
        chunk += line
        try await writeIfFull()
    }

    /// Adds `record`'s line, writing the chunk once it is full.
    mutating func append(_ record: AuditRecord) async throws {
        record.wire.appendLine(to: &chunk)
        try await writeIfFull()
    }

    /// Writes what is gathered.
    mutating func flush() async throws {
        guard !chunk.isEmpty else { return }
        try await output.write(chunk)
        chunk.removeAll(keepingCapacity: true)
    }

    private mutating func writeIfFull() async throws {
        if chunk.count >= RequestProcessor.chunkBytes { try await flush() }
    }
}

/// The connection closed before a request's answer could be written.
package struct ConnectionGone: Error {}
