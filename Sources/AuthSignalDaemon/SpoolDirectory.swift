import AuthSignalCore
import AuthSignalProtocol
import Dispatch
import Foundation
import Glibc

/// The spool directory as the daemon sees it on disk (``Spool`` describes the layout): making it
/// usable, listing it, reading an event file without trusting it, and putting entries aside.
/// Nothing here decides what is stored; ``SpoolDrainer`` does.
struct SpoolDirectory: Sendable {
    /// The directory's path.
    let path: String

    /// Why the directory cannot be used.
    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }

    /// Makes the directory usable: creates it (mode 0700) when missing, corrects its mode, and
    /// writes `publicKey`, the key hooks seal events to. Throws, saying why, when it is not a
    /// directory the daemon owns: someone else could then remove or replace what hooks leave.
    func prepare(publicKey: [UInt8]) throws(Unusable) {
        var info = stat()
        // mkdir only when missing: under ProtectSystem=strict it fails with EPERM even for a
        // directory that exists (systemd-tmpfiles makes it; ReadWritePaths opens it).
        if lstat(path, &info) != 0, mkdir(path, Spool.directoryMode) != 0, errno != EEXIST {
            throw Unusable(description: "cannot be created: \(String(cString: strerror(errno)))")
        }
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw Unusable(description: "is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw Unusable(description: "belongs to uid \(info.st_uid), not to the daemon (uid \(geteuid()))")
        }
        if info.st_mode & 0o7777 != Spool.directoryMode { chmod(path, Spool.directoryMode) }
        let keyPath = path + "/" + Spool.publicKeyName
        if lstat(keyPath, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(),
            info.st_mode & 0o777 == 0o644, FileManager.default.contents(atPath: keyPath) == Data(publicKey)
        {
            return
        }
        do {
            try ReplacedFile.write(publicKey, to: keyPath)
        } catch {
            throw Unusable(description: "cannot write \(Spool.publicKeyName): \(error)")
        }
    }

    /// The entries to look at, in name order (which is the order the events happened): every
    /// name but the daemon's own key and `refused/`.
    func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted().filter {
            $0 != Spool.publicKeyName && $0 != Spool.refusedName
        }
    }

    /// Reads the event file `name` (see ``SpoolFile``).
    func read(_ name: String) throws(SpoolFile.Refusal) -> SpoolFile {
        try SpoolFile.read(path + "/" + name)
    }

    /// Deletes the event file `name`, once its record is durable.
    func remove(_ name: String) {
        unlink(path + "/" + name)
    }

    /// What became of an entry put aside.
    struct PutAside {
        /// The entry's owner, `nil` when it was gone already.
        let owner: UInt32?
        /// Where it went: into `refused/`, or deleted when that was impossible.
        let keptIn: String?
    }

    /// Moves `name` into `refused/` (the daemon's own, created when missing), or deletes it when
    /// that is impossible.
    func putAside(_ name: String) -> PutAside {
        let entry = path + "/" + name
        let aside = path + "/" + Spool.refusedName
        var info = stat()
        let owner = lstat(entry, &info) == 0 ? info.st_uid : nil
        let isDirectory = owner != nil && info.st_mode & S_IFMT == S_IFDIR
        if lstat(aside, &info) != 0, mkdir(aside, 0o700) != 0, errno != EEXIST {
            return deleting(entry, isDirectory: isDirectory, owner: owner)
        }
        let asideIsOurs = lstat(aside, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid()
        guard asideIsOurs, rename(entry, aside + "/" + name) == 0 else {
            return deleting(entry, isDirectory: isDirectory, owner: owner)
        }
        return PutAside(owner: owner, keptIn: aside)
    }

    private func deleting(_ entry: String, isDirectory: Bool, owner: UInt32?) -> PutAside {
        if isDirectory { try? FileManager.default.removeItem(atPath: entry) } else { unlink(entry) }
        return PutAside(owner: owner, keptIn: nil)
    }

    /// The entries of `refused/`, bounded.
    var refused: RefusedEntries { RefusedEntries(directory: path + "/" + Spool.refusedName) }

    /// What a temporary name (a hook's file being written) turns out to be.
    enum Temporary: Equatable {
        /// Being written, or gone: left alone.
        case inProgress
        /// Abandoned by a hook that died, or dated where no hook writing now could be: deleted.
        case cleared
        /// Not a regular file: to be refused.
        case notAFile
    }

    /// A temporary file older than this was left by a hook that died before renaming it.
    static let abandonedAfter: TimeInterval = 600
    /// How far in the future a temporary file's time may be (clock steps) before it is taken as
    /// planted rather than being written.
    static let clockSlack: TimeInterval = 60

    /// Deletes the hook's temporary file `name` when it was never completed (older than
    /// ``abandonedAfter``, or dated in the future beyond ``clockSlack``).
    func clearTemporary(_ name: String, now: Date = Date()) -> Temporary {
        var info = stat()
        let entry = path + "/" + name
        guard name != "." && name != "..", lstat(entry, &info) == 0 else { return .inProgress }
        guard info.st_mode & S_IFMT == S_IFREG else { return .notAFile }
        let age = now.timeIntervalSince1970 - TimeInterval(info.st_mtim.tv_sec)
        guard age > Self.abandonedAfter || age < -Self.clockSlack else { return .inProgress }
        unlink(entry)
        return .cleared
    }

    /// Calls `changed` whenever a file is completed in or moved into the directory (inotify);
    /// `nil`, with the reason, when the directory cannot be watched. Cancel the source to stop.
    func watch(_ changed: @escaping @Sendable () -> Void) -> Result<any DispatchSourceRead, Unusable> {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return .failure(Unusable(description: "inotify: \(String(cString: strerror(errno)))")) }
        guard inotify_add_watch(fd, path, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE)) >= 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failure(Unusable(description: "cannot watch: \(reason)"))
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: DispatchQueue(label: "authsignald.spool"))
        source.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Glibc.read(fd, &buffer, buffer.count) > 0 {}
            changed()
        }
        source.setCancelHandler { close(fd) }
        source.resume()
        return .success(source)
    }
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
