import Foundation
import Glibc
import TestSupport
import Testing

/// The test account used for access control (created when missing; needs root).
public let testAccount = "authsignal-test"

/// Creates the test account when missing and returns its uid, or cancels the test when that is
/// not possible (not root).
public func requireTestAccount() throws -> UInt32 {
    guard isRoot else { try Test.cancel("needs root to switch to a test account") }
    if getpwnam(testAccount) == nil {
        let created = try runCommand(
            "/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", testAccount])
        guard created.status == 0 else { throw DaemonTestError("useradd failed: \(created.output)") }
    }
    return try #require(getpwnam(testAccount)).pointee.pw_uid
}

/// Sends `lines` to the daemon as `account` (through `setpriv`, with the account's groups) and
/// returns the answer lines.
public func requestAs(_ account: String, socket: String, _ lines: [String]) throws -> [String] {
    let script = """
        import socket, sys, threading
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[1])
        requests = sys.stdin.buffer.read()
        def send():
            try:
                s.sendall(requests)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        # Answers are read while requests are sent: the daemon stops reading from a client whose
        # answers pile up.
        sender = threading.Thread(target=send)
        sender.start()
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                # A daemon that refuses the connection closes it with the request unread: the
                # kernel resets it after the answer, which was read already.
                break
            if not chunk: break
            data += chunk
        sys.stdout.write(data.decode())
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    process.arguments = [
        "--reuid=\(account)", "--regid=\(account)", "--init-groups", "--", "/usr/bin/python3", "-c", script, socket,
    ]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(lines.map { $0 + "\n" }.joined().utf8))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}

/// Waits up to 30 s for `condition`.
public func waitFor(_ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw DaemonTestError("timed out waiting for \(what)")
}

/// Waits up to 30 s for `condition`, sleeping between checks without holding a thread.
public func waitFor(_ what: String, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw DaemonTestError("timed out waiting for \(what)")
}
