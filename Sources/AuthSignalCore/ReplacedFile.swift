import Glibc

/// A file replaced whole, as readers of a directory (node_exporter's textfile collector, PAM hooks
/// reading the spool's key) need: written to a temporary file beside it, flushed to disk, then
/// renamed over it, so a reader sees the old contents or the new, never a part.
package enum ReplacedFile {
    /// What went wrong, with the path and the reason.
    package struct Failure: Error, CustomStringConvertible {
        /// What failed, and why.
        package let description: String
    }

    /// Replaces `path` with `contents`, mode 0644.
    package static func write(_ contents: String, to path: String) throws(Failure) {
        try write(Array(contents.utf8), to: path)
    }

    /// Replaces `path` with `bytes`, mode 0644. The temporary file is a dot file (readers of
    /// `*.prom` skip it, and so does the spool's drainer) and is removed when anything fails.
    package static func write(_ bytes: [UInt8], to path: String) throws(Failure) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array("\(directory)/.\(name).XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        guard descriptor >= 0 else { throw failure("cannot create a file in \(directory)") }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let saved = Descriptor.writeAll(descriptor, bytes) && fchmod(descriptor, 0o644) == 0 && fsync(descriptor) == 0
        close(descriptor)
        guard saved, rename(temporary, path) == 0 else {
            let reason = failure("cannot write \(path)")
            unlink(temporary)
            throw reason
        }
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
