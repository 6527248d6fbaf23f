import AuditStore
package import AuthSignalCore
import Dispatch
import Foundation
import Glibc
package import Logging
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
    /// The spool directory.
    package let directory: String
    private let key: SpoolOpeningKey
    private let processor: RequestProcessor
    private let logger: Logger
    private let status: SpoolStatus
    /// A temporary file older than this was left by a hook that died before renaming it.
    static let abandonedAfter: TimeInterval = 600
    /// How often the spool is looked at without a change notice (a missed inotify event, or a
    /// retry after the audit log refused).
    static let rescanInterval = Duration.seconds(5)

    /// A drainer of `directory` whose events `processor` stores.
    package init(directory: String, key: SpoolOpeningKey, processor: RequestProcessor, logger: Logger) {
        self.directory = directory
        self.status = processor.spool
        self.key = key
        self.processor = processor
        self.logger = logger
    }

    /// Makes the directory usable: creates it (mode 0700) when missing, corrects its mode, and
    /// writes the public key hooks seal events to. Returns `false`, with the reason logged, when
    /// the daemon does not own it: someone else could then remove or replace what hooks leave.
    package func prepare() -> Bool {
        var info = stat()
        // mkdir only when missing: under ProtectSystem=strict it fails with EPERM even for a
        // directory that exists (systemd-tmpfiles makes it; ReadWritePaths opens it).
        if lstat(directory, &info) != 0, mkdir(directory, Spool.directoryMode) != 0, errno != EEXIST {
            logger.warning(
                "spool \(directory) cannot be created: \(String(cString: strerror(errno))); events the hook cannot deliver are lost"
            )
            return false
        }
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            logger.warning("spool \(directory) is not a directory; events the hook cannot deliver are lost")
            return false
        }
        guard info.st_uid == geteuid() else {
            logger.warning(
                "spool \(directory) belongs to uid \(info.st_uid), not to the daemon (uid \(geteuid())); it is not used"
            )
            return false
        }
        if info.st_mode & 0o7777 != Spool.directoryMode { chmod(directory, Spool.directoryMode) }
        do {
            try writePublicKey()
        } catch {
            logger.warning("spool \(directory): cannot write \(Spool.publicKeyName): \(error)")
            return false
        }
        status.enable(directory)
        return true
    }

    private func writePublicKey() throws(SpoolError) {
        let path = directory + "/" + Spool.publicKeyName
        let bytes = key.publicKeyBytes
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(),
            info.st_mode & 0o777 == 0o644, FileManager.default.contents(atPath: path) == Data(bytes)
        {
            return
        }
        let temporary = directory + "/.public.key.\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(temporary, errno) }
        fchmod(fd, 0o644)
        let written = write(fd, bytes, bytes.count)
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .io(path, code)
        }
    }

    /// Drains now, then on every change and every ``rescanInterval``, until cancelled.
    package func run() async {
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let watch = watchDirectory(continuation)
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

    /// Yields to `continuation` whenever a file is completed or moved into the directory.
    private func watchDirectory(_ continuation: AsyncStream<Void>.Continuation) -> (any DispatchSourceRead)? {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            logger.warning("spool: inotify unavailable (\(String(cString: strerror(errno)))); rescanning every 5 s")
            return nil
        }
        guard inotify_add_watch(fd, directory, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE)) >= 0 else {
            logger.warning(
                "spool: cannot watch \(directory) (\(String(cString: strerror(errno)))); rescanning every 5 s")
            close(fd)
            return nil
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: DispatchQueue(label: "authsignald.spool"))
        source.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while read(fd, &buffer, buffer.count) > 0 {}
            continuation.yield()
        }
        source.setCancelHandler { close(fd) }
        source.resume()
        return source
    }

    /// One pass over the spool, oldest event first; stops early while the audit log refuses.
    /// `refused/` is pruned after it when `pruningRefused`, or when the pass refused an entry.
    func drain(pruningRefused: Bool = false) async {
        let refusedBefore = status.counters.refused
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            logger.warning("spool \(directory) cannot be read: \(error)")
            return
        }
        var pending = names.filter { Spool.isEventFileName($0) }.count
        var stored = 0
        defer {
            if pruningRefused || status.counters.refused != refusedBefore {
                RefusedEntries(directory: directory + "/" + Spool.refusedName).prune()
            }
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
        files: for name in names where name != Spool.publicKeyName && name != Spool.refusedName {
            if Task.isCancelled { break }
            if Spool.isTemporaryName(name) {
                clearTemporary(name)
                continue
            }
            guard Spool.isEventFileName(name) else {
                refuse(name, because: "not the name of a spooled event")
                continue
            }
            switch submit(name) {
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
            unlink(directory + "/" + name)
            status.stored()
            stored += 1
            pending -= 1
        }
        return true
    }

    private enum Submission {
        case submitted(AppendTicket)
        case refused(String)
        case retryLater(String)
    }

    /// Reads and checks one event file and hands its event to the audit log.
    private func submit(_ name: String) -> Submission {
        let path = directory + "/" + name
        let file: SpoolFile
        do {
            file = try SpoolFile.read(path)
        } catch {
            return .refused(error.reason)
        }
        let line: [UInt8]
        do {
            line = try key.open(file.contents)
        } catch {
            return .refused("\(error)")
        }
        guard case .emit(let event)? = try? ProtocolRequest.decode(line) else {
            return .refused("not an emit request")
        }
        // Only root and the daemon may write to the directory (mode 0700), so a file of anyone
        // else's was put there by other means: an older spool's mode, a restore, a bind mount.
        guard file.owner.uid == 0 || file.owner.uid == geteuid() else {
            return .refused("owned by uid \(file.owner.uid), which cannot write to the spool")
        }
        let peer = PeerIdentity(credentials: file.owner)
        guard processor.runtime.access.permits(.emit(event), peer: peer) else {
            return .refused("uid \(file.owner.uid) may not emit (see [Access])")
        }
        switch processor.emit(event, peer: peer) {
        case .failure(let error):
            return error.code == .unavailable ? .retryLater(error.message) : .refused(error.description)
        case .success(let ticket):
            return .submitted(ticket)
        }
    }

    /// Moves `name` into `refused/` (the daemon's own), or deletes it when that is impossible;
    /// reports it either way, with the entry's owner, and keeps `refused/` within its bounds.
    private func refuse(_ name: String, because reason: String) {
        let path = directory + "/" + name
        let aside = directory + "/" + Spool.refusedName
        var info = stat()
        let owner = lstat(path, &info) == 0 ? "\(info.st_uid)" : "?"
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        if lstat(aside, &info) != 0, mkdir(aside, 0o700) != 0, errno != EEXIST {
            logger.warning("spool: cannot create \(aside): \(String(cString: strerror(errno)))")
        }
        let asideIsOurs = lstat(aside, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid()
        let kept = asideIsOurs && rename(path, aside + "/" + name) == 0
        if !kept {
            if isDirectory { try? FileManager.default.removeItem(atPath: path) } else { unlink(path) }
        }
        let count = status.refused()
        logger.warning(
            "spool: refused \(name): \(reason); \(kept ? "moved to \(aside)" : "deleted")",
            metadata: ["owner": "\(owner)"])
        // Pruned as entries arrive, not only after the pass: a pass may refuse many.
        if kept, count % RefusedEntries.pruneEvery == 0 { RefusedEntries(directory: aside).prune() }
    }

    /// Deletes a hook's temporary file that was never completed (older than ``abandonedAfter``,
    /// or dated in the future, which no hook writing now could be), and refuses a temporary name
    /// that is not a regular file.
    private func clearTemporary(_ name: String) {
        var info = stat()
        let path = directory + "/" + name
        guard name != "." && name != "..", lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFREG else {
            refuse(name, because: "a temporary name that is not a regular file")
            return
        }
        let age = Date().timeIntervalSince1970 - TimeInterval(info.st_mtim.tv_sec)
        if age > Self.abandonedAfter || age < -Self.clockSlack { unlink(path) }
    }

    /// How far in the future a temporary file's time may be (clock steps) before it is taken as
    /// planted rather than being written.
    static let clockSlack: TimeInterval = 60
}

/// The entries of `refused/`, kept for an admin to inspect but bounded: the newest
/// ``Spool/maximumRefused`` entries and ``Spool/maximumRefusedBytes`` bytes stay, the oldest go.
struct RefusedEntries {
    let directory: String

    /// Refusals between prunes within one pass.
    static let pruneEvery = 100

    /// Deletes the oldest entries (by modification time, then name) beyond the bounds.
    func prune() {
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
        else { return }
        var entries: [(name: String, time: Int, bytes: Int64)] = names.compactMap { name in
            var info = stat()
            guard lstat(directory + "/" + name, &info) == 0 else { return nil }
            return (name, info.st_mtim.tv_sec, info.st_mode & S_IFMT == S_IFREG ? Int64(info.st_size) : 0)
        }
        var bytes = entries.reduce(0) { $0 + $1.bytes }
        guard entries.count > Spool.maximumRefused || bytes > Spool.maximumRefusedBytes else { return }
        entries.sort { ($0.time, $0.name) > ($1.time, $1.name) }
        while entries.count > Spool.maximumRefused || bytes > Spool.maximumRefusedBytes, let oldest = entries.popLast()
        {
            try? FileManager.default.removeItem(atPath: directory + "/" + oldest.name)
            bytes -= oldest.bytes
        }
    }
}

/// A spool file read safely: never following a symbolic link, never blocking on a FIFO, only a
/// regular file with one link, not writable by group or others, and at most
/// ``Spool/maximumFileBytes``.
struct SpoolFile {
    let contents: [UInt8]
    /// The file's owner as its sender; pid 0 marks a record that came through the spool.
    let owner: PeerCredentials

    /// Why a file is refused.
    struct Refusal: Error {
        let reason: String
    }

    static func read(_ path: String) throws(Refusal) -> SpoolFile {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw Refusal(
                reason: errno == ELOOP ? "a symbolic link" : "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Refusal(reason: "cannot stat: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Refusal(reason: "not a regular file") }
        guard info.st_nlink == 1 else { throw Refusal(reason: "has \(info.st_nlink) links") }
        guard info.st_mode & 0o7137 == 0 else {
            throw Refusal(
                reason: "mode \(String(info.st_mode & 0o7777, radix: 8)) lets others change it (0600 or 0640)")
        }
        guard info.st_size <= Spool.maximumFileBytes else {
            throw Refusal(reason: "\(info.st_size) bytes is too large")
        }
        var contents = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < contents.count {
            let count = contents[offset...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw Refusal(reason: "cannot read: \(String(cString: strerror(errno)))") }
            offset += count
        }
        let gid = getpwuid(info.st_uid).map { $0.pointee.pw_gid } ?? info.st_gid
        return SpoolFile(contents: contents, owner: PeerCredentials(uid: info.st_uid, gid: gid, pid: 0))
    }
}

/// What the spool drainer has done, for `stats`.
package final class SpoolStatus: Sendable {
    /// The counts.
    package struct Counters: Sendable, Hashable {
        /// The directory drained, once it is usable.
        package var directory: String?
        /// Events stored from the spool (including repeats of events already stored).
        package var stored = 0
        /// Files moved aside or deleted as untrustworthy.
        package var refused = 0
        /// Event files waiting after the last pass.
        package var pending = 0
    }

    private let state = Mutex(Counters())

    /// Nothing drained yet, no directory in use.
    package init() {}

    /// The counts now.
    package var counters: Counters { state.withLock { $0 } }

    func enable(_ directory: String) { state.withLock { $0.directory = directory } }
    func stored() { state.withLock { $0.stored += 1 } }
    /// Counts a refusal; returns the count so far.
    func refused() -> Int {
        state.withLock {
            $0.refused += 1
            return $0.refused
        }
    }
    func update(pending: Int) { state.withLock { $0.pending = pending } }
}
