import CSystemd
import Glibc
import Synchronization

/// Sends entries to journald's native socket without ever waiting.
///
/// A log line, a diagnostic or the PAM hook's report must never hold up an event loop, the audit
/// log's writer or a login. `sd_journal_sendv` blocks while journald's socket queue is full, which
/// is what a stopped or frozen journald leaves: one refused request's log line once froze an event
/// loop for 145 s, and the hook's report held a login for 20 s. This sender writes journald's
/// native protocol itself on a non-blocking datagram socket; an entry journald cannot take at once
/// (queue full, journald absent, too large for one datagram) is dropped and counted in
/// ``dropped``.
package final class JournalDatagramSender: Sendable {
    /// The process's sender (one socket for all its log lines).
    package static let shared = JournalDatagramSender()

    private let socket: Int32
    private let path: String
    private let droppedCount = Atomic<Int>(0)

    /// A sender to journald's socket at `path` (the system's by default).
    package init(path: String = JournalWriter.socketPath) {
        self.path = path
        socket = Glibc.socket(
            AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    }

    deinit { if socket >= 0 { close(socket) } }

    /// Entries dropped since the process started, because journald could not take them at once.
    package var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// Sends `entry` if journald takes it now; otherwise drops and counts it. Never waits.
    /// - Returns: whether journald took it.
    @discardableResult
    package func send(_ entry: JournalEntry) -> Bool {
        let datagram = Self.encode(entry)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let fits = withUnsafeMutableBytes(of: &address.sun_path) { sunPath -> Bool in
            guard path.utf8.count < sunPath.count else { return false }
            for (index, byte) in path.utf8.enumerated() { sunPath[index] = byte }
            return true
        }
        guard socket >= 0, fits else { return drop() }
        // Addressed on every send, not connected once: a journald restarted since is reached.
        let sent = datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL), $0,
                        socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        return sent == datagram.count ? true : drop()
    }

    private func drop() -> Bool {
        droppedCount.add(1, ordering: .relaxed)
        return false
    }

    /// journald's native protocol: `NAME=value\n` for a value without a newline, else `NAME\n`, the
    /// value's length as 64-bit little endian, the value and `\n` (systemd.journal-fields(7)).
    static func encode(_ entry: JournalEntry) -> [UInt8] {
        var datagram: [UInt8] = []
        for (name, value) in entry.fields {
            datagram.append(contentsOf: name.name.utf8)
            if value.contains(0x0A) {
                datagram.append(0x0A)
                withUnsafeBytes(of: UInt64(value.count).littleEndian) { datagram.append(contentsOf: $0) }
            } else {
                datagram.append(UInt8(ascii: "="))
            }
            datagram.append(contentsOf: value)
            datagram.append(0x0A)
        }
        return datagram
    }
}
