import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

/// Options every command that talks to the daemon takes.
struct Connection: ParsableArguments {
    @Option(help: "The daemon's socket (default: $AUTHSIGNAL_SOCKET, else \(DaemonConnection.defaultPath)).")
    var socket: String?

    func open() throws -> DaemonConnection {
        do {
            return try DaemonConnection(path: DaemonConnection.socketPath(socket))
        } catch {
            throw fail(error)
        }
    }

    /// For `--user NAME` with a name that is no account here (and not a hash already): NAME's
    /// keyed hash from the daemon, under which a failed login for it was stored; `nil` when there
    /// is no such name, or the daemon cannot or will not say (`[Access] HashUsers`).
    func keyedHash(ofUnknownName name: String?) -> String? {
        guard let name, !HashedName.isHashed(name), !Redactor.systemHasAccount(name) else { return nil }
        let daemon = try? DaemonConnection(path: DaemonConnection.socketPath(socket))
        return try? daemon?.request(.hash(value: name), as: HashAnswer.self).hash
    }
}
