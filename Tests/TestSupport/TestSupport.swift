import Foundation
public import Glibc

/// A temporary directory, removed with everything in it when the object goes. Mode 0755, so that
/// a test account can reach a socket in it; files that must be private set their own modes.
public final class TemporaryDirectory: Sendable {
    /// Its absolute path (short: Unix socket paths in it must stay under 108 bytes).
    public let path: String

    /// Creates `<tmp>/authsignal-test-XXXXXXXX`.
    public init() throws {
        path = FileManager.default.temporaryDirectory.path + "/authsignal-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
    }

    /// The path of `name` in the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A child process started with `posix_spawn`, for programs that close every descriptor they do
/// not know (`systemd-socket-activate`): Foundation's `Process` notices such a child's exit by a
/// descriptor it passes down, takes the early close for an exit, and blocks its only monitoring
/// thread in `waitpid` until the child really exits, stalling every other `Process` meanwhile.
public final class SpawnedProcess: @unchecked Sendable {
    /// The child's process id.
    public let pid: pid_t
    private var status: Int32?

    /// Starts `arguments[0]` (an absolute path) with `arguments`, stdout and stderr to /dev/null.
    public init(_ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, arguments[0], &actions, nil, argv, environ)
        guard result == 0 else { throw SpawnError(code: result) }
        pid = child
    }

    /// Sends `signal` (unless the child was already reaped).
    public func signal(_ signal: Int32) {
        if status == nil { kill(pid, signal) }
    }

    /// Waits up to `seconds` for the child to exit; its wait status, or `nil` if it still runs.
    @discardableResult
    public func wait(seconds: Double = 30) -> Int32? {
        if let status { return status }
        for _ in 0..<Int(seconds * 100) {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                status = raw
                return raw
            }
            usleep(10_000)
        }
        return nil
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
    }
}

/// `posix_spawn` failed.
public struct SpawnError: Error {
    /// The errno.
    public let code: Int32
}

/// Runs a command to completion on the calling thread; returns its exit status and its output
/// (stdout and stderr together).
@discardableResult
public func runCommand(_ command: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs a command on a thread of its own (``onThread(_:)``); returns its status and combined
/// output.
@discardableResult
public func run(_ command: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await onThread { try runCommand(command, arguments) }
}

/// Runs the blocking `body` on a thread of its own and awaits its result: a test's blocking calls
/// (sockets, processes) must not hold a thread of the cooperative pool (two on a two-core
/// machine), which the code under test may need meanwhile.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// The journal entry whose `AUTHSIGNAL_TEST_ID` is `id`, as `journalctl -o json` prints it,
/// polled for up to five seconds (journald writes asynchronously).
public func journalEntry(tagged id: String) async throws -> [String: Any]? {
    for _ in 0..<100 {
        let (_, output) = try await run(
            "/usr/bin/journalctl", ["-o", "json", "--no-pager", "AUTHSIGNAL_TEST_ID=\(id)"])
        if let line = output.split(separator: "\n").first,
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        {
            return object
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return nil
}

/// Writes a journal file at `path` with systemd-journal-remote (journald's own writer): one entry
/// per number in `numbers`, `SEQ=n` and a 200-byte `MESSAGE`, a microsecond apart from `start`,
/// all of boot `boot`.
public func writeJournalFile(
    _ path: String, numbers: Range<Int>, boot: String = "0123456789abcdef0123456789abcdef",
    start: UInt64 = 1_700_000_000_000_000
) throws {
    try writeJournalFile(
        path,
        entries: numbers.map { ["SEQ": "\($0)", "MESSAGE": "entry \($0) \(String(repeating: "x", count: 200))"] },
        boot: boot, start: start, first: numbers.lowerBound)
}

/// Writes a journal file at `path` with systemd-journal-remote holding `entries` (text fields,
/// trusted ones such as `_SYSTEMD_UNIT` included, as a collector receives them), all of boot
/// `boot`: entry `n` (counting from `first`) is stamped `start + n` µs, so that files written with
/// consecutive numbers follow each other in time.
public func writeJournalFile(
    _ path: String, entries: [[String: String]], boot: String = "0123456789abcdef0123456789abcdef",
    start: UInt64 = 1_700_000_000_000_000, first: Int = 0
) throws {
    var export = ""
    for (offset, fields) in entries.enumerated() {
        let number = first + offset
        export += "__REALTIME_TIMESTAMP=\(start + UInt64(number))\n__MONOTONIC_TIMESTAMP=\(1_000 + number)\n"
        export += "_BOOT_ID=\(boot)\n"
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { export += "\(name)=\(value)\n" }
        export += "\n"
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/lib/systemd/systemd-journal-remote")
    process.arguments = ["--output=\(path)", "-"]
    let input = Pipe()
    process.standardInput = input
    process.standardError = FileHandle.nullDevice
    try process.run()
    input.fileHandleForWriting.write(Data(export.utf8))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw JournalFileError(status: process.terminationStatus) }
}

/// systemd-journal-remote failed to write a journal file.
public struct JournalFileError: Error {
    /// Its exit status.
    public let status: Int32
}
