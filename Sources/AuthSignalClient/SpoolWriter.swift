package import AuthSignalCore
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
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directoryFD >= 0 else { throw .io("spool \(directory)", errno) }
        defer { close(directoryFD) }
        var info = stat()
        guard fstat(directoryFD, &info) == 0 else { throw .io("spool \(directory)", errno) }
        // Anyone may add files, but only its owner (the daemon) may replace the key or another's
        // file: sticky, and not writable by a group that could be anyone's.
        guard info.st_mode & S_ISVTX != 0 else { throw .untrusted("\(directory) is not sticky (mode 3733)") }
        let sealed = try SpoolSealingKey(rawRepresentation: try publicKey(in: directoryFD, owner: info.st_uid))
            .seal(line)
        try checkRoom(directoryFD)
        let name = Spool.fileName(time: time, id: id)
        let temporary = ".\(name).\(getpid())"
        let fd = openat(directoryFD, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .io("spool \(directory)/\(temporary)", errno) }
        // The daemon reads it through its group (the directory's, which a setgid directory gives
        // new files; set here too for a directory without it, where permitted).
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
        // Only the daemon and root may list the directory; others are bounded by the space check.
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
