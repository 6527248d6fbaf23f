import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Systemd
import TestSupport
import Testing

/// Connects to a Unix stream socket, sends a line and reads the answer line.
func exchange(path: String, line: String) throws -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    let connected = withUnixAddress(path) { connect(fd, $0, $1) }
    guard connected == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    _ = (line + "\n").withCString { send(fd, $0, strlen($0), 0) }
    var answer = [UInt8]()
    var byte: UInt8 = 0
    // A signal (other tests' children exiting) interrupts recv with EINTR: read on.
    while true {
        let count = recv(fd, &byte, 1, 0)
        if count < 0 && errno == EINTR { continue }
        guard count == 1, byte != UInt8(ascii: "\n") else { break }
        answer.append(byte)
    }
    return String(decoding: answer, as: UTF8.self)
}

@Suite("Socket activation")
struct SocketActivationTests {
    @Test func anActivatedProcessFindsItsNamedSocketAndServesIt() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/authsignald.sock"
        // Not Foundation's Process: systemd-socket-activate closes the descriptor Process watches.
        let activator = try SpawnedProcess([
            "/usr/bin/systemd-socket-activate", "-l", path, "--fdname=authsignald", probePath, "serve", "authsignald",
        ])
        defer { activator.signal(SIGTERM) }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: path) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let answer = try exchange(path: path, line: "hello")
        #expect(answer == "fd=3 name=authsignald peer-uid=\(getuid()) hello")
    }

    @Test func withoutActivationNoSocketIsFound() async throws {
        // In a child with an empty environment: `take()` unsets LISTEN_*, and this process must
        // not change its environment while other tests spawn programs.
        let result = try await run("/usr/bin/env", ["-i", probePath, "serve"])
        #expect(result.status == 1)
        #expect(result.output == "no listening unix stream socket among []\n", "\(result.output)")
    }
}
