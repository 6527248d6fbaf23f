package import AuthSignalCore
import AuthSignalProtocol
package import Foundation
import Glibc

/// Leaves an event the daemon could not take in the spool (``Spool``), durably: sealed to the
/// daemon's key, written to a temporary file, synced, renamed into place, the directory synced.
package struct SpoolWriter {
    /// The spool directory.
    package let directory: String

    /// The directory from an explicit option, else `$AUTHSIGNAL_SPOOL`, else the default.
    package static func directory(_ option: String?) -> String {
        chosenPath(option, environment: "AUTHSIGNAL_SPOOL", default: Spool.defaultDirectory)
    }

    /// A writer into `directory`.
    package init(directory: String) {
        self.directory = directory
    }

    /// Writes the request line `line` (an emit with its idempotency id `id`, first tried at
    /// `time`) and returns the file's path.
    /// - Throws: ``SpoolError``: the directory or its key cannot be trusted, the spool is full, or
    ///   writing failed (then nothing is left behind).
    package func write(_ line: [UInt8], time: Date, id: String) throws(SpoolError) -> String {
        let (directoryFD, info) = try SpoolDirectory.open(directory)
        defer { close(directoryFD) }
        let sealed = try SpoolSealingKey(rawRepresentation: try publicKey(in: directoryFD, owner: info.st_uid))
            .seal(line)
        try checkRoom(directoryFD)
        let name = Spool.fileName(time: time, id: id)
        let temporary = ".\(name).\(getpid())"
        let fd = openat(directoryFD, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .io("spool \(directory)/\(temporary)", errno) }
        // The daemon reads it through its group, the directory's (the file's owner stays the
        // writer's, which the daemon takes as the sender).
        _ = fchown(fd, uid_t.max, info.st_gid)
        var written = 0
        let complete = sealed.withUnsafeBytes { bytes in
            while written < bytes.count {
                let count = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return false }
                written += count
            }
            return fsync(fd) == 0
        }
        let code = errno
        close(fd)
        guard complete, renameat(directoryFD, temporary, directoryFD, name) == 0 else {
            let failure = complete ? errno : code
            unlinkat(directoryFD, temporary, 0)
            throw .io("spool \(directory)/\(name)", failure)
        }
        _ = fsync(directoryFD)
        return directory + "/" + name
    }

    /// The daemon's public key, refused unless the directory's owner wrote it and only it may.
    private func publicKey(in directoryFD: Int32, owner: uid_t) throws(SpoolError) -> [UInt8] {
        let fd = openat(directoryFD, Spool.publicKeyName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .untrusted("no \(Spool.publicKeyName): authsignald has never started") }
            throw .io("spool \(directory)/\(Spool.publicKeyName)", code)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io("spool \(directory)/\(Spool.publicKeyName)", errno) }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_uid == owner, info.st_mode & 0o022 == 0 else {
            throw .untrusted("\(Spool.publicKeyName) is not a file of the directory's owner that only it may change")
        }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &bytes, bytes.count)
        guard count == 32 else { throw .badKey }
        return Array(bytes.prefix(32))
    }

    /// Refuses to add a file when the spool holds ``Spool/maximumFiles`` or its file system has
    /// less than ``Spool/minimumFreeBytes`` free (a spool never fills the disk).
    private func checkRoom(_ directoryFD: Int32) throws(SpoolError) {
        var space = statvfs()
        if fstatvfs(directoryFD, &space) == 0 {
            let free = UInt64(space.f_bavail) * UInt64(space.f_frsize)
            if free < Spool.minimumFreeBytes { throw .full("\(free >> 20) MiB free on its file system") }
        }
        let listing = openat(directoryFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listing >= 0, let stream = fdopendir(listing) else {
            if listing >= 0 { close(listing) }
            return
        }
        defer { closedir(stream) }
        var count = 0
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(Spool.suffix) { count += 1 }
            if count >= Spool.maximumFiles { throw .full("\(count) events wait in it") }
        }
    }
}

/// The spool directory, opened only when nobody but root, this process's user and the owner root
/// chose for it could have made it or could change it: otherwise a user who created the path first
/// would be handed events sealed to their own key (docs/pam.md, "Who may write to the spool").
package enum SpoolDirectory {
    /// Opens `path` one component at a time from `/`, never following a symbolic link, and returns
    /// the directory's descriptor and status.
    ///
    /// Every directory above it must belong to root or to `euid` and be writable by no one else,
    /// unless it is sticky (as `/tmp` is: nobody may then rename another's entry). The spool
    /// itself must be usable by its owner only (mode 0700), and its owner must be root, `euid`, or
    /// whoever the owner of a parent that nobody else may write gave it to. Only root and the
    /// owner may write into it, so a hook running as anyone else is refused here, saying so.
    /// - Throws: ``SpoolError/untrusted(_:)`` naming the component and why, or
    ///   ``SpoolError/io(_:_:)``.
    package static func open(_ path: String, euid: uid_t = geteuid()) throws(SpoolError) -> (fd: Int32, info: stat) {
        guard path.hasPrefix("/") else { throw .untrusted("\(path) is not an absolute path") }
        let names = path.split(separator: "/").map(String.init).filter { $0 != "." }
        guard !names.contains(".."), !names.isEmpty else { throw .untrusted("\(path) names no directory below /") }
        var current = Glibc.open("/", pathOnly | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw .io("/", errno) }
        var walked = ""
        var parent = stat()
        for name in names {
            defer { walked += "/" + name }
            guard fstat(current, &parent) == 0 else {
                let code = errno
                close(current)
                throw .io(walked.isEmpty ? "/" : walked, code)
            }
            if let why = untrustedParent(parent, euid: euid) {
                close(current)
                throw .untrusted("\(walked.isEmpty ? "/" : walked) \(why)")
            }
            let next = openat(current, name, pathOnly | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            close(current)
            guard next >= 0 else {
                throw code == ENOTDIR || code == ELOOP
                    ? .untrusted("\(walked)/\(name) is not a directory (a symbolic link is not followed)")
                    : .io("spool \(walked)/\(name)", code)
            }
            current = next
        }
        defer { close(current) }
        var info = stat()
        guard fstat(current, &info) == 0 else { throw .io("spool \(path)", errno) }
        let parentOnlyTheirs = parent.st_mode & 0o022 == 0
        guard info.st_uid == 0 || info.st_uid == euid || parentOnlyTheirs else {
            throw .untrusted("\(path) belongs to uid \(info.st_uid), and its parent lets others create entries")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw .untrusted(
                "\(path) has mode \(String(info.st_mode & 0o7777, radix: 8)); only its owner may use it (0700)")
        }
        guard euid == 0 || euid == info.st_uid else {
            throw .untrusted(
                "only root and the daemon may write to it (uid \(info.st_uid)); this hook runs as uid \(euid)")
        }
        let fd = openat(current, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("spool \(path)", errno) }
        return (fd, info)
    }

    /// Linux's `O_PATH` (asm-generic's value: x86-64, arm64), which Glibc's module leaves out as a GNU
    /// extension: a descriptor to walk and `fstat` by, which needs no read permission.
    private static let pathOnly: Int32 = 0o10_000_000

    /// Why a directory on the way to the spool cannot be trusted, or `nil`.
    private static func untrustedParent(_ info: stat, euid: uid_t) -> String? {
        guard info.st_uid == 0 || info.st_uid == euid else { return "belongs to uid \(info.st_uid)" }
        guard info.st_mode & 0o022 == 0 || info.st_mode & S_ISVTX != 0 else {
            return "may be written by others (mode \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }
}
