import AuditStore
package import AuthSignalCore
import AuthSignalProtocol
import Dispatch
import Glibc
package import Logging
import NIOPosix
import Synchronization

/// Stores the events the PAM hook left in the spool (``Spool``) while the daemon could not take
/// them: at start, whenever a file appears (inotify), and every few seconds while the audit log
/// refused. In name order, which is the order the events happened. Each keeps its original time
/// and idempotency id; its peer is the file's owner as the kernel recorded it, with pid 0, which
/// marks a record that came through the spool. A file is deleted only once its record is
/// durable. A file that cannot be trusted (not a regular file of one link, a mode that lets
/// others change it, too large, not sealed for this daemon, not an emit, an owner other than root
/// and the daemon, or one who may not emit) is moved to `refused/` and reported, never fatal;
/// `refused/` keeps the newest ``Spool/maximumRefused`` entries. Every other entry that is not
/// the daemon's is refused too, and a hook's temporary file is deleted once abandoned.
package final class SpoolDrainer: Sendable {
    private let spool: SpoolDirectory
    private let key: SpoolOpeningKey
    private let processor: RequestProcessor
    private let logger: Logger
    private let status: SpoolStatus
    /// How often the spool is looked at without a change notice (a missed inotify event, or a
    /// retry after the audit log refused).
    static let rescanInterval = Duration.seconds(5)

    /// A drainer of `directory` whose events `processor` stores.
    package init(directory: String, key: SpoolOpeningKey, processor: RequestProcessor, logger: Logger) {
        spool = SpoolDirectory(path: directory)
        status = processor.counters.spool
        self.key = key
        self.processor = processor
        self.logger = logger
    }

    /// The spool directory.
    package var directory: String { spool.path }

    /// Makes the directory usable (``SpoolDirectory/prepare(publicKey:)``). Returns `false`, with
    /// the reason logged, when it cannot be used.
    package func prepare() -> Bool {
        do {
            try spool.prepare(publicKey: key.publicKeyBytes)
        } catch {
            logger.warning("spool \(directory) \(error); events the hook cannot deliver are lost")
            return false
        }
        status.enable(directory)
        return true
    }

    /// Drains now, then on every change and every ``rescanInterval``, until cancelled.
    package func run() async {
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let watch: (any DispatchSourceRead)?
        switch spool.watch({ continuation.yield() }) {
        case .success(let source):
            watch = source
        case .failure(let problem):
            logger.warning("spool \(directory): \(problem); rescanning every 5 s")
            watch = nil
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.rescanInterval)
                continuation.yield()
            }
        }
        defer {
            ticker.cancel()
            watch?.cancel()
            continuation.finish()
        }
        // refused/ is pruned at start (an older version left it unbounded), then after the passes
        // that add to it.
        await drain(pruningRefused: true)
        for await _ in changes {
            if Task.isCancelled { break }
            await drain()
        }
    }

    /// One pass over the spool, oldest event first; stops early while the audit log refuses.
    /// `refused/` is pruned after it when `pruningRefused`, or when the pass refused an entry.
    func drain(pruningRefused: Bool = false) async {
        let refusedBefore = status.counters.refused
        let names: [String]
        do {
            names = try spool.entries()
        } catch {
            logger.warning("spool \(directory) cannot be read: \(error)")
            return
        }
        var pending = names.filter { Spool.isEventFileName($0) }.count
        var stored = 0
        defer {
            if pruningRefused || status.counters.refused != refusedBefore { spool.refused.prune() }
            status.update(pending: pending)
            if stored > 0 {
                logger.notice("stored \(stored) events from the spool", metadata: ["pending": "\(pending)"])
            }
        }
        if pending >= Spool.maximumFiles {
            logger.warning("spool \(directory) is full: \(pending) events wait; the hook spools no more")
        }
        // Events are submitted a batch at a time and awaited together, so that they share group
        // commits; submission order is storage order.
        var batch: [(name: String, ticket: AppendTicket)] = []
        files: for name in names {
            if Task.isCancelled { break }
            if Spool.isTemporaryName(name) {
                if spool.clearTemporary(name) == .notAFile {
                    refuse(name, because: "a temporary name that is not a regular file")
                }
                continue
            }
            guard Spool.isEventFileName(name) else {
                refuse(name, because: "not the name of a spooled event")
                continue
            }
            // On the account look-up pool, not the cooperative one: the owner's groups and the
            // redactor's account look-ups go to NSS, which may wait on sssd or LDAP.
            let submission: Submission
            do {
                submission = try await AccountLookUps.pool.runIfActive { self.submit(name) }
            } catch {
                break files
            }
            switch submission {
            case .submitted(let ticket):
                batch.append((name, ticket))
            case .refused(let reason):
                refuse(name, because: reason)
                pending -= 1
            case .retryLater(let reason):
                logger.warning("spool: the audit log cannot store now (\(reason)); retrying in 5 s")
                break files
            }
            if batch.count == Self.batchSize {
                guard await settle(&batch, stored: &stored, pending: &pending) else { return }
            }
        }
        _ = await settle(&batch, stored: &stored, pending: &pending)
    }

    /// Events submitted before their acknowledgements are awaited.
    static let batchSize = 256

    /// Awaits `batch`'s records and deletes each file whose record is durable; `false` when the
    /// audit log failed (the rest stay for the next pass).
    private func settle(_ batch: inout [(name: String, ticket: AppendTicket)], stored: inout Int, pending: inout Int)
        async -> Bool
    {
        defer { batch.removeAll() }
        for (name, ticket) in batch {
            do {
                _ = try await ticket.value
            } catch {
                logger.warning("spool: the audit log cannot store now (\(error)); retrying in 5 s")
                return false
            }
            spool.remove(name)
            status.stored()
            stored += 1
            pending -= 1
        }
        return true
    }

    private enum Submission: Sendable {
        case submitted(AppendTicket)
        case refused(String)
        case retryLater(String)
    }

    /// Reads, checks and opens one event file, and has the processor serve its line with the
    /// file's owner as the peer.
    private func submit(_ name: String) -> Submission {
        let file: SpoolFile
        do {
            file = try spool.read(name)
        } catch {
            return .refused(error.reason)
        }
        // Only root and the daemon may write to the directory (mode 0700), so a file of anyone
        // else's was put there by other means: an older spool's mode, a restore, a bind mount.
        guard file.owner.uid == 0 || file.owner.uid == geteuid() else {
            return .refused("owned by uid \(file.owner.uid), which cannot write to the spool")
        }
        let line: [UInt8]
        do {
            line = try key.open(file.contents)
        } catch {
            return .refused("\(error)")
        }
        switch processor.serve(line, peer: PeerIdentity(credentials: file.owner), from: .spool).work {
        case .emit(let emit):
            return .submitted(emit.dispatch())
        case .refused(let error):
            return error.code == .unavailable ? .retryLater(error.message) : .refused(error.message)
        case .read:
            return .refused("not an emit request")
        }
    }

    /// Puts `name` aside (``SpoolDirectory/putAside(_:)``) and reports it with the entry's owner,
    /// keeping `refused/` within its bounds.
    private func refuse(_ name: String, because reason: String) {
        let aside = spool.putAside(name)
        let count = status.refused()
        logger.warning(
            "spool: refused \(name): \(reason); \(aside.keptIn.map { "moved to \($0)" } ?? "deleted")",
            metadata: ["owner": "\(aside.owner.map(String.init) ?? "?")"])
        // Pruned as entries arrive, not only after the pass: a pass may refuse many.
        if aside.keptIn != nil, count % RefusedEntries.pruneEvery == 0 { spool.refused.prune() }
    }
}
