import AuthSignalCore
import AuthSignalProtocol
public import Foundation
import Glibc
import Synchronization
public import TestSupport
public import Testing

/// Daemons shared by a suite, killed when the test process exits.
let sharedDaemons = Mutex<[Int32]>([])

/// Every test that spawns the daemon or the CLI runs inside this suite, one at a time, whichever
/// test target it is in (the daemon's, the CLI's): these tests block their thread on real sockets
/// and processes, and in parallel they would take every thread of the cooperative pool (two on a
/// two-core machine) from the in-process tests.
@Suite(.serialized) public enum SpawnedTests {}

/// The binaries built next to the tests.
public let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
public let daemonPath = buildDirectory + "/authsignald"

/// A real authsignald process with its own configuration, socket, database and key.
public final class DaemonUnderTest: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let socketPath: String
    public let databasePath: String
    public let keyPath: String
    public let configPath: String
    public let logPath: String
    public let spoolPath: String
    public private(set) var process: Process?
    /// When the daemon was last started: with ``pid`` it tells this daemon's journal entries from
    /// those of an earlier process that had the same id (ids wrap after `pid_max`, 32768 here).
    public private(set) var startedAt = Date.distantPast
    /// A command prefix to run the daemon under (`unshare`, `systemd-socket-activate`, …).
    private let wrapper: [String]

    /// Writes a configuration (the `[Socket]`/`[Store]`/`[Redaction]` paths in the temporary
    /// directory, then `extra`) and starts the daemon.
    /// - Parameter killAtExit: for a daemon shared by a whole suite (never deinitialized): kill
    ///   it when the test process exits.
    public init(extra: String = "", wrapper: [String] = [], start: Bool = true, killAtExit: Bool = false) throws {
        directory = try TemporaryDirectory()
        socketPath = directory.path + "/authsignald.sock"
        databasePath = directory.path + "/audit.db"
        keyPath = directory.path + "/redaction.key"
        configPath = directory.path + "/authsignald.conf"
        logPath = directory.path + "/daemon.log"
        spoolPath = directory.path + "/spool"
        self.wrapper = wrapper
        try writeConfig(extra: extra)
        if start { try self.start() }
        if killAtExit, let pid = process?.processIdentifier {
            sharedDaemons.withLock { $0.append(pid) }
            atexit { for pid in sharedDaemons.withLock({ $0 }) { kill(pid, SIGKILL) } }
        }
    }

    /// Replaces the configuration file.
    public func writeConfig(extra: String) throws {
        let text = """
            [Socket]
            Path=\(socketPath)
            Mode=0666
            Group=
            IdleTimeoutSec=0
            [Store]
            Path=\(databasePath)
            # Off unless a test turns them on: most tests count the records they send.
            LifecycleRecords=no
            [Accounts]
            Watch=no
            [Redaction]
            KeyFile=\(keyPath)
            [Spool]
            Directory=\(spoolPath)
            [Journal]
            ReportIntervalSec=1
            AnchorIntervalSec=1

            """ + extra
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the daemon and waits until it answers `ping`.
    public func start() throws {
        let process = Process()
        // The shell appends output to the log and execs the command: no descriptor of the test
        // process is handed over (Foundation would close a FileHandle's descriptor twice).
        let command = wrapper + [daemonPath, "--config", configPath, "--log-level", "debug"]
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$@\" >>'\(logPath)' 2>&1", "sh"] + command
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.removeValue(forKey: "JOURNAL_STREAM")
        process.environment = environment
        startedAt = Date()
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !process.isRunning {
                throw DaemonTestError("authsignald exited with \(process.terminationStatus):\n\(self.log)")
            }
            if let client = try? Client(socketPath),
                (try? client.request(#"{"op":"ping"}"#))?.last?.contains(#""ok":true"#) == true
            {
                return
            }
            usleep(20_000)
        }
        throw DaemonTestError("authsignald did not answer within 30 s:\n\(self.log)")
    }

    /// The process id of the daemon itself (not of a wrapper).
    public var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Sends `signal` to the daemon.
    public func signal(_ signal: Int32) { if let process { kill(process.processIdentifier, signal) } }

    /// Waits for the daemon to exit and returns its status.
    @discardableResult
    public func waitForExit(timeout: TimeInterval = 60) -> Int32? {
        guard let process else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    public func stop() -> Int32? {
        signal(SIGTERM)
        return waitForExit()
    }

    /// Everything the daemon wrote to stdout and stderr.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

public struct DaemonTestError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking protocol client on a real Unix socket, with a receive timeout. Sendable so that an
/// async test can hand it to `onThread`; it is used by one thread at a time.
public final class Client: @unchecked Sendable {
    public let fd: Int32
    private var pending: [UInt8] = []

    public init(_ path: String, timeoutSeconds: Int = 30) throws {
        // The descriptor becomes `fd` only once connected: a class whose stored properties are
        // all set runs its deinit when its init throws, and a second close(2) of a number another
        // thread has since reused (a database, another test's socket) breaks that thread.
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw DaemonTestError("socket: \(errno)") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnixAddress(path) { connect(descriptor, $0, $1) }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw DaemonTestError("connect \(path): \(String(cString: strerror(code)))")
        }
        fd = descriptor
    }

    deinit { close(fd) }

    /// Writes all of `bytes`.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw DaemonTestError("send: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Closes the sending side (the daemon sees end of input).
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// The next line without its newline; `nil` at end of stream.
    public func readLine() throws -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return nil }
            guard count > 0 else { throw DaemonTestError("recv: \(String(cString: strerror(errno)))") }
            pending += buffer[..<count]
        }
    }

    /// Reads the lines answering one request: record lines, then the final line with "ok".
    public func answer() throws -> [String] {
        var lines: [String] = []
        while let line = try readLine() {
            lines.append(line)
            if !line.hasPrefix(#"{"record":"#) { return lines }
        }
        throw DaemonTestError("connection closed after \(lines.count) lines")
    }

    /// Sends one request line and returns its answer.
    public func request(_ json: String) throws -> [String] {
        try send(json + "\n")
        return try answer()
    }

    /// Sends one request and returns its final line as an object.
    public func final(_ json: String) throws -> [String: Any] {
        try object(try request(json).last!)
    }
}

/// A client whose ping the daemon at `path` answered, retried for up to 2 s: a daemon at its
/// connection limit may not have seen an earlier connection close yet.
public func connectedClient(_ path: String) throws -> Client {
    for _ in 0..<100 {
        let client = try Client(path)
        if (try? client.final(#"{"op":"ping"}"#))?["ok"] as? Bool == true { return client }
        usleep(20_000)
    }
    throw DaemonTestError("the daemon never accepted a connection")
}

/// Parses one JSON object line.
public func object(_ line: String) throws -> [String: Any] {
    guard let value = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw DaemonTestError("not an object: \(line)")
    }
    return value
}

/// The error code of an answer line, if it is an error.
public func errorCode(_ line: String) -> String? {
    ((try? object(line))?["error"] as? [String: Any])?["code"] as? String
}

/// An emit request line.
public func emitLine(
    _ signal: String = "user_logged_in", sender: String = "sshd", user: String? = "alice", id: String? = nil,
    request: String? = nil, credentials: String? = nil
) -> String {
    var fields = [#""op":"emit""#, #""signal":"\#(signal)""#, #""sender":"\#(sender)""#]
    if let user { fields.append(#""user":"\#(user)""#) }
    if let id { fields.append(#""id":"\#(id)""#) }
    if let request { fields.append(#""request":\#(request)"#) }
    if let credentials { fields.append(#""credentials":\#(credentials)"#) }
    return "{" + fields.joined(separator: ",") + "}"
}

/// Whether the tests run as root (account switching, namespaces).
public var isRoot: Bool { geteuid() == 0 }

/// Checks that a fresh, well-behaved client is still served.
public func expectServes(_ daemon: DaemonUnderTest, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let client = try Client(daemon.socketPath)
    let answer = try client.final(emitLine(user: "probe"))
    #expect(answer["ok"] as? Bool == true, "daemon no longer serves: \(answer)", sourceLocation: sourceLocation)
    #expect(daemon.process?.isRunning == true, sourceLocation: sourceLocation)
}
