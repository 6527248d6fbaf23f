import Glibc

/// Writing to a file descriptor the way every file of ours is written.
package enum Descriptor {
    /// Writes all of `bytes` to `descriptor`, retrying interrupted and short writes. Returns
    /// `false`, with `errno` set, when a write fails (a full disk, say) or writes nothing.
    package static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                if count == 0 { errno = EIO }
                return false
            }
            offset += count
        }
        return true
    }
}
