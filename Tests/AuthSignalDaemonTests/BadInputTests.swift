import Foundation
import Glibc
import SpawnSupport
import Testing

extension SpawnedTests {
    /// Hostile and broken input: each case gets a clear error (or a closed connection for what cannot
    /// be framed), and afterwards the daemon still serves a well-behaved client on another connection.
    @Suite struct BadInputTests {
        /// One shared daemon: a bad frame must not affect anyone else, including later tests.
        static let daemon = Result { try DaemonUnderTest(killAtExit: true) }

        @Test func clientThatNeverReadsItsAcksCannotGrowTheDaemon() throws {
            let daemon = try Self.daemon.get()
            let rssBefore = residentKiB(daemon.pid)
            let client = try Client(daemon.socketPath, timeoutSeconds: 2)
            // Small socket buffers make the daemon's side fill quickly.
            var size: Int32 = 4096
            setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            let request = Array((#"{"op":"ping"}"# + "\n").utf8)
            var batch: [UInt8] = []
            for _ in 0..<1000 { batch += request }
            var sent = 0
            // Keep sending until the daemon stops reading (the send times out) or 200 MiB went out.
            while sent < 200 << 20 {
                do { try client.send(batch) } catch { break }
                sent += batch.count
            }
            #expect(sent < 200 << 20, "the daemon kept reading without its answers being read")
            try expectServes(daemon)
            let rssAfter = residentKiB(daemon.pid)
            #expect(rssAfter - rssBefore < 64 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
        }
    }
}

/// The resident set size of a process, in KiB.
func residentKiB(_ pid: Int32) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
