import Foundation
import Glibc
import TestSupport
import Testing

/// The systemd-probe helper built next to the tests.
let probePath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("systemd-probe").path

/// Cancels the test when no journald listens: `scripts/test` starts one.
func requireJournald() throws {
    guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
        try Test.cancel("no journald socket; scripts/test starts a private journald")
    }
}
