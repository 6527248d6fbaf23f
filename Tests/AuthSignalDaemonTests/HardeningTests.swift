import AuthSignalClient
import AuthSignalDaemon
import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    /// What probing as an attacker found (issue 12), each checked against a real daemon.
    @Suite struct HardeningTests {
        /// Clients that send small invalid lines and never read their answers get at most
        /// `MaxInFlight` requests taken each, however many lines a read delivers: the daemon stops
        /// reading, so their sends stall after the socket buffers, its memory stays flat, and
        /// others are served.
        @Test func floodOfInvalidLinesWithoutReadingIsBounded() throws {
            let daemon = try DaemonUnderTest(extra: "[Socket]\nMaxInFlight=64\n")
            let before = try residentBytes(daemon.pid)
            let flooders = try (0..<4).map { _ in try Client(daemon.socketPath) }
            // Lines of "x", each answered invalid_json. Without the bound the daemon took every
            // one a read delivered and kept its answers in memory.
            let chunk = (0..<65536).map { $0 % 2 == 0 ? UInt8(ascii: "x") : UInt8(ascii: "\n") }
            var sent = [Int](repeating: 0, count: flooders.count)
            for (index, flooder) in flooders.enumerated() {
                _ = fcntl(flooder.fd, F_SETFL, fcntl(flooder.fd, F_GETFL) | O_NONBLOCK)
                var stalledSince = Date()
                while sent[index] < 16 << 20, Date().timeIntervalSince(stalledSince) < 1 {
                    let written = chunk.withUnsafeBytes {
                        Glibc.send(flooder.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                    }
                    if written > 0 {
                        sent[index] += written
                        stalledSince = Date()
                    } else {
                        usleep(5_000)
                    }
                }
            }
            let grown = try residentBytes(daemon.pid) - before
            #expect(grown < 16 << 20, "the daemon grew by \(grown) bytes for \(sent) bytes of requests")
            #expect(sent.allSatisfy { $0 < 2 << 20 }, "sent \(sent) bytes to a daemon that should have stopped reading")
            // Others are served meanwhile.
            #expect(try Client(daemon.socketPath).final(emitLine(user: "bystander"))["ok"] as? Bool == true)
            // Reading the answers lets a flooder go on; every answer is the right error, in order.
            let flooder = flooders[0]
            _ = fcntl(flooder.fd, F_SETFL, fcntl(flooder.fd, F_GETFL) & ~O_NONBLOCK)
            for _ in 0..<1000 { #expect(errorCode(try #require(try flooder.readLine())) == "invalid_json") }
        }
    }
}

extension SpawnedTests {
    /// How the daemon process stops under a systemd watchdog.
    @Suite struct WatchdogTests {
        /// With a systemd watchdog, an idle daemon still stops at once on SIGTERM (it slept half
        /// the watchdog interval, 15 s here, before). The bound leaves room for a loaded machine
        /// and still tells the two apart.
        @Test func idleDaemonWithWatchdogStopsLongBeforeHalfItsInterval() throws {
            let daemon = try DaemonUnderTest(wrapper: ["/usr/bin/env", "WATCHDOG_USEC=30000000"])
            let idle = try Client(daemon.socketPath)
            _ = idle
            usleep(200_000)
            let started = ContinuousClock.now
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit(timeout: 20) == 0)
            let took = ContinuousClock.now - started
            #expect(took < .seconds(5), "stopping took \(took)")
        }
    }
}

/// The resident memory of process `pid` (`VmRSS`).
func residentBytes(_ pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kibibytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { throw DaemonTestError("no VmRSS for \(pid)") }
    return kibibytes * 1024
}
