public import AuthSignalCore
import CSystemd
import Glibc

extension PeerCredentials {
    /// The credentials the kernel recorded for the peer of a connected Unix socket (SO_PEERCRED):
    /// who really is on the other end, whatever the peer claims.
    public init(socket fd: Int32) throws(PeerCredentialsError) {
        var credentials = authsignal_ucred()
        var length = socklen_t(MemoryLayout<authsignal_ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            throw PeerCredentialsError(errno: errno)
        }
        self.init(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
    }
}

/// SO_PEERCRED could not be read.
public struct PeerCredentialsError: Error, Equatable, CustomStringConvertible {
    /// The errno of `getsockopt`.
    public let errno: Int32

    /// A message for people.
    public var description: String { "cannot read peer credentials: \(String(cString: strerror(errno)))" }
}
