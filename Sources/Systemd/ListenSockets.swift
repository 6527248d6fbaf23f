import CSystemd
import Glibc

/// A socket handed over by socket activation.
package struct ListenSocket: Sendable, Hashable {
    /// The file descriptor.
    package let fd: Int32
    /// Its name from `LISTEN_FDNAMES` (`FileDescriptorName=` in the .socket unit), if any.
    package let name: String?

    /// Whether it is a listening Unix stream socket.
    package var isUnixStream: Bool { sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 }
}

/// The sockets systemd passed to this process (`sd_listen_fds_with_names`).
package enum ListenSockets {
    /// Takes the passed sockets (marking them close-on-exec) and unsets the `LISTEN_*` variables
    /// so that child processes do not see them.
    package static func take() -> [ListenSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer { free(names) }
        return (0..<Int(count)).map { index in
            let fd = SD_LISTEN_FDS_START + Int32(index)
            var name: String?
            if let names, let raw = names[index] {
                name = String(cString: raw)
                free(raw)
            }
            return ListenSocket(fd: fd, name: name == "unknown" ? nil : name)
        }
    }

    /// The listening Unix stream socket passed under `name`, or the only one when `name` is nil.
    package static func unixStreamSocket(named name: String? = nil, in sockets: [ListenSocket]) -> ListenSocket? {
        let candidates = sockets.filter(\.isUnixStream)
        if let name { return candidates.first { $0.name == name } }
        return candidates.count == 1 ? candidates.first : nil
    }
}
