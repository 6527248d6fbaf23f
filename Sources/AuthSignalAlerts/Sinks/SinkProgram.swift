import Foundation
import Glibc
import Subprocess
import SystemPackage

/// Runs a sink's program (the `exec` command, sendmail, apprise) with the message on its
/// standard input, and reads its answer. It runs in a process group of its own, so that at its
/// time-out the program and whatever it started are stopped: SIGTERM, then SIGKILL two seconds
/// later.
enum SinkProgram {
    /// The most output kept of a program: more fails the delivery, as a program that talks that
    /// much is not answering a delivery.
    static let outputLimit = 65536

    /// Runs `command` (an absolute path and its arguments, no shell) with `input`, at most
    /// `timeout`. Returns its output (standard output and error together), trimmed.
    /// - Throws: ``DeliveryFailure`` when it cannot start, exits non-zero, is killed or times out.
    static func run(
        _ command: [String], input: [UInt8], timeout: Duration
    ) async throws(DeliveryFailure) -> String {
        let (status, output) = try await execute(command, input: input, timeout: timeout)
        let answer = Self.trimmed(output)
        guard status.isSuccess else {
            throw DeliveryFailure("\(command[0]) \(Self.describe(status))" + (answer.isEmpty ? "" : ": \(answer)"))
        }
        return answer
    }

    /// `exited with status 1`, `was killed by signal 9`.
    static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was killed by signal \(signal)"
        }
    }

    /// Runs `command` as ``run(_:input:timeout:)`` does, and returns how it ended and all it said.
    /// - Throws: ``DeliveryFailure`` when it cannot start or times out.
    static func execute(
        _ command: [String], input: [UInt8], timeout: Duration
    ) async throws(DeliveryFailure) -> (TerminationStatus, String) {
        guard let path = command.first else { throw DeliveryFailure("no program to run") }
        ignoreBrokenPipes
        let stdin = try memoryFile(input)
        var platform = PlatformOptions()
        platform.processGroupID = 0
        platform.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let options = platform
        let arguments = Arguments(Array(command.dropFirst()))
        let outcome: Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(
                        .path(FilePath(path)), arguments: arguments, platformOptions: options,
                        input: .fileDescriptor(FileDescriptor(rawValue: stdin), closeAfterSpawningProcess: true),
                        output: .string(limit: outputLimit), error: .combinedWithOutput)
                    return .finished(result.terminationStatus, result.standardOutput)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                }
                let first = try await group.next() ?? .timedOut
                group.cancelAll()
                return first
            }
        } catch {
            throw DeliveryFailure("\(path) could not run: \(error)")
        }
        switch outcome {
        case .timedOut:
            throw DeliveryFailure("\(path) did not finish within \(timeout.formatted(.units(allowed: [.seconds])))")
        case .finished(let status, let output):
            return (status, output)
        }
    }

    /// `input` in a temporary file that no name reaches (unlinked at once; the unit's
    /// `PrivateTmp=` keeps its directory the service's own), read from its start: the program's
    /// standard input. Not a pipe written as the program runs: a program that exits without reading it all
    /// then ends a write with EPIPE, which swift-subprocess 1.0.2 answers by stopping the whole
    /// process on a descriptor it did not close.
    private static func memoryFile(_ input: [UInt8]) throws(DeliveryFailure) -> CInt {
        var template = Array((FileManager.default.temporaryDirectory.path + "/authsignal-alert.XXXXXX").utf8CString)
        let descriptor = mkstemp(&template)
        guard descriptor >= 0 else {
            throw DeliveryFailure("cannot hold the message: \(String(cString: strerror(errno)))")
        }
        unlink(template)
        // Not inherited by programs that other deliveries start meanwhile.
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        var offset = 0
        while offset < input.count {
            let written = input[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw DeliveryFailure("cannot hold the message: \(reason)")
            }
            offset += written
        }
        lseek(descriptor, 0, SEEK_SET)
        return descriptor
    }

    /// A program that exits without reading all of its input (or is stopped) must not take the
    /// service with it: SIGPIPE is ignored, once, for the whole process, and the write fails
    /// instead.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    private enum Outcome: Sendable {
        case finished(TerminationStatus, String)
        case timedOut
    }

    /// The last 500 characters of `output`, on one line, without surrounding space.
    static func trimmed(_ output: String) -> String {
        let line = output.split(whereSeparator: \.isNewline).joined(separator: " | ")
            .trimmingCharacters(in: .whitespaces)
        return String(line.suffix(500))
    }
}

/// Why a delivery failed, for the outbox and `authsignal alerts` (never a secret: what a sink
/// says is trimmed, and credentials are passed as files, never on a command line).
package struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
