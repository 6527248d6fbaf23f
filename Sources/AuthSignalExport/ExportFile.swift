import AuthSignalCore
import AuthSignalProtocol
import Glibc

/// The export file (docs/export.md): JSON lines in seq order, each batch on disk before the next
/// is read, rotated by size (`PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2`, … the oldest
/// beyond `keep` is removed), and resumed from its own last complete line. The file is its own
/// position: a kill at any moment leaves a torn line at most, which is cut off at the next start,
/// so nothing is exported twice and nothing is skipped.
///
/// Files are created with mode 0640. Their group is the directory's: the package makes
/// /var/log/authsignal set-group-ID and owned by group adm (authsignal.tmpfiles), so the shipper's
/// group can read them without the service being a member.
package final class ExportFile {
    /// What went wrong, with the path and the reason.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// The current file.
    package let path: String
    /// The most bytes a file holds (unless one line is longer).
    package let maxBytes: Int
    /// How many rotated files are kept.
    package let keep: Int
    private var descriptor: Int32 = -1
    /// The current file's size.
    package private(set) var size = 0

    /// Opens (creating it when missing) the export file at `path`.
    package init(path: String, maxBytes: Int, keep: Int) throws(Failure) {
        self.path = path
        self.maxBytes = max(maxBytes, 1)
        self.keep = max(keep, 1)
        try open()
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The seq of the last record exported (see ``lastExportedSeq(at:)``), after cutting off a torn
    /// line at the end of `PATH`.
    /// - Throws: when the last complete line is not an exported record (the file is not ours).
    package func lastExportedSeq() throws(Failure) -> Int64 {
        try cutTornLine()
        return try Self.lastExportedSeq(at: path)
    }

    /// The seq of the last record exported to the file at `path`, read only: that of the last
    /// complete line of `path`, or of `path.1` when `path` has none (a rotation was cut short, or
    /// has just happened); 0 when nothing was exported.
    package static func lastExportedSeq(at path: String) throws(Failure) -> Int64 {
        for candidate in [path, "\(path).1"] {
            let reader = Glibc.open(candidate, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard reader >= 0 else {
                if errno == ENOENT { continue }
                throw failure("cannot open \(candidate)")
            }
            defer { close(reader) }
            var info = stat()
            guard fstat(reader, &info) == 0 else { throw failure("cannot read \(candidate)") }
            if let line = try lastLine(reader, size: Int(info.st_size), path: candidate) {
                return try seq(of: line, in: candidate)
            }
        }
        return 0
    }

    /// Appends `lines` (each ending in a newline) and flushes them to disk. A line that would
    /// take the file past ``maxBytes`` goes to a new file (``rotate()``), so each file stays within
    /// it (a single longer line has a file of its own). A write that fails (a full disk) is undone,
    /// leaving the file as it was before it.
    package func append(_ lines: [[UInt8]]) throws(Failure) {
        var pending: [UInt8] = []
        for line in lines {
            if size + pending.count > 0 && size + pending.count + line.count > maxBytes {
                try write(pending)
                pending.removeAll(keepingCapacity: true)
                try rotate()
            }
            pending += line
        }
        try write(pending)
    }

    private func write(_ bytes: [UInt8]) throws(Failure) {
        guard !bytes.isEmpty else { return }
        guard Descriptor.writeAll(descriptor, bytes), fdatasync(descriptor) == 0 else {
            let failure = Self.failure("cannot write \(path)")
            _ = ftruncate(descriptor, off_t(size))
            throw failure
        }
        size += bytes.count
    }

    /// Starts a new file: the current one becomes `PATH.1` and the older ones move up, the
    /// oldest beyond ``keep`` being removed. Each rename is on disk before the new file is created.
    package func rotate() throws(Failure) {
        for index in stride(from: keep - 1, through: 1, by: -1) {
            guard rename("\(path).\(index)", "\(path).\(index + 1)") == 0 || errno == ENOENT else {
                throw Self.failure("cannot rotate \(path).\(index)")
            }
        }
        guard rename(path, "\(path).1") == 0 else { throw Self.failure("cannot rotate \(path)") }
        try syncDirectory()
        close(descriptor)
        descriptor = -1
        try open()
        try syncDirectory()
    }

    private func open() throws(Failure) {
        let opened = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard opened >= 0 else { throw Self.failure("cannot open \(path)") }
        var info = stat()
        // The service's umask (0077) would keep the group out: the mode is set, not masked.
        guard fstat(opened, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, fchmod(opened, 0o640) == 0 else {
            let failure = Self.failure("\(path) is not a regular file this service may write")
            close(opened)
            throw failure
        }
        descriptor = opened
        size = Int(info.st_size)
    }

    /// Cuts `PATH` back to the end of its last complete line.
    private func cutTornLine() throws(Failure) {
        guard size > 0 else { return }
        let reader = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard reader >= 0 else { throw Self.failure("cannot read \(path)") }
        defer { close(reader) }
        var end = size
        var byte: UInt8 = 0
        while end > 0 {
            guard pread(reader, &byte, 1, off_t(end - 1)) == 1 else { throw Self.failure("cannot read \(path)") }
            if byte == UInt8(ascii: "\n") { break }
            end -= 1
        }
        guard end < size else { return }
        guard ftruncate(descriptor, off_t(end)) == 0, fdatasync(descriptor) == 0 else {
            throw Self.failure("cannot cut the torn last line of \(path)")
        }
        size = end
    }

    private func syncDirectory() throws(Failure) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let handle = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { throw Self.failure("cannot open \(directory)") }
        defer { close(handle) }
        guard fsync(handle) == 0 else { throw Self.failure("cannot flush \(directory)") }
    }

    /// The last complete line of the first `size` bytes of `descriptor`, without its newline
    /// (bytes after the last newline, a torn line, are not one); `nil` when there is none. Read
    /// backwards, 64 KiB at a time.
    static func lastLine(_ descriptor: Int32, size: Int, path: String) throws(Failure) -> [UInt8]? {
        var line: [UInt8] = []
        var end: Int?  // the offset of the last newline, once found
        var position = size
        while position > 0 {
            let chunk = min(65536, position)
            var bytes = [UInt8](repeating: 0, count: chunk)
            let read = bytes.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress, chunk, off_t(position - chunk))
            }
            guard read == chunk else { throw failure("cannot read \(path)") }
            position -= chunk
            var searched = bytes[...]
            if end == nil {
                guard let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) else { continue }
                end = position + newline
                searched = bytes[..<newline]
            }
            if let start = searched.lastIndex(of: UInt8(ascii: "\n")) {
                return Array(searched[(start + 1)...]) + line
            }
            line = Array(searched) + line
        }
        return end == nil || line.isEmpty ? nil : line
    }

    /// The seq an exported line carries: `unmapped.authsignal.seq` (OCSF) or `authsignal.seq` (ECS).
    static func seq(of line: [UInt8], in path: String) throws(Failure) -> Int64 {
        let value = try? JSONParser.parse(line, allowsNUL: true)
        guard let seq = value?["unmapped"]?["authsignal"]?["seq"]?.intValue ?? value?["authsignal"]?["seq"]?.intValue
        else {
            throw Failure(
                description: "the last line of \(path) is not a record authsignal exported; move the file away "
                    + "(the export starts again from the first record)")
        }
        return seq
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
