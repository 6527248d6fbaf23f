import CSystemd
import Glibc

/// One journal entry: fields in order, each value any bytes (newlines, NUL and invalid UTF-8 are
/// kept as they are).
package struct JournalEntry: Sendable, Hashable {
    /// The fields, in the order they are sent.
    package private(set) var fields: [(name: JournalFieldName, value: [UInt8])] = []

    /// An empty entry.
    package init() {}

    /// Adds a field with a text value.
    package mutating func append(_ name: JournalFieldName, _ value: String) {
        fields.append((name, Array(value.utf8)))
    }

    /// Adds a field with a binary value.
    package mutating func append(_ name: JournalFieldName, bytes: [UInt8]) {
        fields.append((name, bytes))
    }

    /// The first value of `name`, as text.
    package subscript(name: JournalFieldName) -> String? {
        fields.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }

    /// Equal when the same fields have the same values in the same order.
    package static func == (lhs: JournalEntry, rhs: JournalEntry) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// Hashes the fields in order.
    package func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

/// Writes entries to the systemd journal with `sd_journal_sendv`.
///
/// `sd_journal_sendv` returns success and drops the entry when no journald socket exists; this
/// writer checks for the socket then and reports ``JournalError/unavailable(_:)`` instead, so
/// that callers can count what the journal did not get.
package struct JournalWriter: Sendable {
    /// journald's native socket.
    package static let socketPath = "/run/systemd/journal/socket"

    /// A writer to the system journal.
    package init() {}

    /// Why journald cannot be reached now, or `nil` when its socket accepts a connection: what a
    /// daemon about to rely on the journal should say at start, rather than at its first failure.
    package static func unreachableReason() -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "cannot create a socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in socketPath.utf8.enumerated() { path[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0 ? nil : "\(socketPath): \(String(cString: strerror(errno)))"
    }

    /// Sends `entry`.
    /// - Throws: ``JournalError/unavailable(_:)`` when no journald listens,
    ///   ``JournalError/sendFailed(_:)`` when journald refused it.
    package func send(_ entry: JournalEntry) throws(JournalError) {
        // Every field as NAME=value in one buffer, an iovec per field pointing into it: both in
        // temporary (stack) allocations, so that a send allocates nothing on the heap.
        var total = 0
        for field in entry.fields { total += field.name.name.utf8.count + 1 + field.value.count }
        let result = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(total, 1)) { buffer in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: max(entry.fields.count, 1)) { vectors in
                var offset = 0
                for (index, field) in entry.fields.enumerated() {
                    let start = offset
                    for byte in field.name.name.utf8 {
                        buffer[offset] = byte
                        offset += 1
                    }
                    buffer[offset] = UInt8(ascii: "=")
                    offset += 1
                    field.value.withUnsafeBufferPointer { value in
                        _ = UnsafeMutableBufferPointer(rebasing: buffer[offset..<(offset + value.count)])
                            .initialize(from: value)
                    }
                    offset += field.value.count
                    vectors[index] = iovec(iov_base: buffer.baseAddress! + start, iov_len: offset - start)
                }
                return sd_journal_sendv(vectors.baseAddress, Int32(entry.fields.count))
            }
        }
        if result < 0 {
            if -result == ECONNREFUSED || -result == ENOENT {
                throw .unavailable("journald does not listen on \(Self.socketPath)")
            }
            throw .sendFailed(-result)
        }
        // Success is also what sd_journal_sendv says when the socket is missing.
        if access(Self.socketPath, F_OK) != 0 {
            throw .unavailable("no journald socket at \(Self.socketPath)")
        }
    }
}
