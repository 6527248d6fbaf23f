import Foundation
import Glibc
import TestSupport
import Testing

/// The systemd-probe helper built next to the tests.
let probePath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("systemd-probe").path

/// Runs a command on a thread of its own, so that waiting for it never holds one of the few
/// threads every test shares; returns its status and combined output.
@discardableResult
func run(_ command: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runBlocking(command, arguments) })
        }
    }
}

private func runBlocking(_ command: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
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

/// Cancels the test when no journald listens: `scripts/test` starts one.
func requireJournald() throws {
    guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
        try Test.cancel("no journald socket; scripts/test starts a private journald")
    }
}

/// A temporary directory removed when the test ends.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/authsignal-systemd-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
