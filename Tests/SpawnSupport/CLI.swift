public import Foundation
import Glibc
import TestSupport
import Testing

/// The bound a login must keep with the PAM hook in its way: the hook's 500 ms, once per hook
/// run, plus process starts.
public let hookBound = Duration.milliseconds(2500)

public let cliPath = buildDirectory + "/authsignal"

/// Runs the CLI with `arguments` against `socket`, `stdin` as its input; returns status, stdout
/// and stderr.
public func cli(_ arguments: [String], socket: String, stdin: String = "") throws -> (
    status: Int32, out: String, err: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: cliPath)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["AUTHSIGNAL_SOCKET"] = socket
    environment["NO_COLOR"] = "1"
    process.environment = environment
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// keep it), or the native module.
public struct PAMService {
    public static let account = "authsignal-pam"
    public static let password = "Corr3ct-Horse-\(UInt32.random(in: 0...UInt32.max))"
    public static let wrong = "Wr0ng-Guess-\(UInt32.random(in: 0...UInt32.max))"

    /// The service name.
    public let service = "authsignal-test-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"

    /// The service calling `hook` through pam_exec (and for sessions `sessionHook` with pam_exec's
    /// `stdout`, when given).
    public init(hook: String, sessionHook: String? = nil) throws {
        try self.init(
            auth: "[default=ignore] pam_exec.so quiet expose_authtok \(hook)",
            session: "optional pam_exec.so quiet \(sessionHook.map { "stdout " + $0 } ?? hook)")
    }

    /// Creates the account (with ``password``) and the service with the `auth` line (control,
    /// module, arguments) reached when pam_unix fails, and the `session` line; cancels the test
    /// where that is impossible (not root, no pamtester).
    public init(auth: String, session: String) throws {
        guard isRoot else { try Test.cancel("needs root for PAM and a test account") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/pamtester") else {
            try Test.cancel("pamtester is not installed (scripts/test installs it)")
        }
        if getpwnam(Self.account) == nil {
            let created = try runCommand("/usr/sbin/useradd", ["--no-create-home", "--shell", "/bin/sh", Self.account])
            #expect(created.status == 0, "\(created.output)")
        }
        let chpasswd = Process()
        chpasswd.executableURL = URL(fileURLWithPath: "/usr/sbin/chpasswd")
        let input = Pipe()
        chpasswd.standardInput = input
        try chpasswd.run()
        input.fileHandleForWriting.write(Data("\(Self.account):\(Self.password)\n".utf8))
        try input.fileHandleForWriting.close()
        chpasswd.waitUntilExit()
        #expect(chpasswd.terminationStatus == 0)
        try """
        auth    [success=2 default=ignore]  pam_unix.so nodelay
        auth    \(auth)
        auth    requisite                   pam_deny.so
        auth    required                    pam_permit.so
        account required                    pam_permit.so
        session \(session)

        """.write(toFile: "/etc/pam.d/\(service)", atomically: true, encoding: .utf8)
    }

    /// Removes the service file.
    public func remove() { unlink("/etc/pam.d/\(service)") }

    /// pamtester's arguments for `operations` as `user` from `rhost` on pts/9.
    public func arguments(_ operations: [String], user: String = Self.account, rhost: String = "203.0.113.7")
        -> [String]
    {
        ["-I", "rhost=\(rhost)", "-I", "tty=pts/9", service, user] + operations
    }

    /// Runs pamtester with `password` for `operations` from `rhost` on pts/9; its status and how
    /// long it took. A pamtester still running after `limit` is killed (status -1).
    public func run(
        _ password: String, _ operations: [String], rhost: String = "203.0.113.7", limit: Duration = .seconds(20)
    ) throws -> (status: Int32, elapsed: Duration, output: String) {
        try run(["/usr/bin/pamtester"] + arguments(operations, rhost: rhost), password: password, limit: limit)
    }

    /// Runs `command` (pamtester, or what starts it) with `password` on its stdin; its status,
    /// how long it took and its standard output. Still running after `limit`: killed (status -1).
    public func run(
        _ command: [String], password: String, limit: Duration = .seconds(20), whileRunning: (pid_t) -> Void = { _ in }
    ) throws -> (status: Int32, elapsed: Duration, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let input = Pipe()
        process.standardInput = input
        let output = try TemporaryDirectory()
        let outputPath = output.path + "/pamtester.out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = FileHandle.nullDevice
        let started = ContinuousClock.now
        try process.run()
        input.fileHandleForWriting.write(Data("\(password)\n".utf8))
        try input.fileHandleForWriting.close()
        while process.isRunning, ContinuousClock.now - started < limit {
            whileRunning(process.processIdentifier)
            usleep(2_000)
        }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return (-1, ContinuousClock.now - started, "")
        }
        let printed = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (process.terminationStatus, ContinuousClock.now - started, printed)
    }
}

/// `authsignal follow ARGUMENTS` running, its output read without blocking (so that a follower
/// that prints nothing fails a wait instead of hanging it); killed if a test leaves it running.
public final class Follower {
    private let process = Process()
    private let fd: Int32
    private var text = ""

    public init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: cliPath)
        process.arguments = ["follow"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        fd = output.fileHandleForReading.fileDescriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Everything it printed so far.
    public func read() -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let count = Glibc.read(fd, &buffer, buffer.count), count > 0 {
            text += String(decoding: buffer.prefix(count), as: UTF8.self)
        }
        return text
    }

    /// SIGINT, as Ctrl-C; returns its exit status.
    public func stop() -> Int32 {
        _ = read()
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        _ = read()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
