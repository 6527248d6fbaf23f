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
            continuation.resume(with: Result { try runCommand(command, arguments) })
        }
    }
}

/// Cancels the test when no journald listens: `scripts/test` starts one.
func requireJournald() throws {
    guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
        try Test.cancel("no journald socket; scripts/test starts a private journald")
    }
}
