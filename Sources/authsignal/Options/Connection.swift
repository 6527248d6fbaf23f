import ArgumentParser
import AuthSignalClient
import AuthSignalCore
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
}
