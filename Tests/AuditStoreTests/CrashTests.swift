import Foundation
import GRDB
import TestSupport
import Testing

@testable import AuditStore

/// Runs `store-stress` against `path`, kills it with SIGKILL after `delay`, and returns the seqs
/// it printed (each printed only after its append was acknowledged).
func appendUntilKilled(_ path: String, after delay: Duration) async throws -> [Int64] {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("store-stress")
    let process = Process()
    process.executableURL = executable
    process.arguments = ["append", path, "16"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    try await Task.sleep(for: delay)
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    // A line cut short by the kill is not a complete acknowledgement: drop an unterminated tail.
    let complete =
        output.hasSuffix("\n") ? output : String(output[..<(output.lastIndex(of: "\n") ?? output.startIndex)])
    return complete.split(separator: "\n").compactMap { Int64($0) }
}

@Suite("Audit store: crash safety")
struct CrashTests {
    @Test func everyAcknowledgedSeqSurvivesSIGKILL() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        var total = 0
        for round in 0..<4 {
            let acknowledged = try await appendUntilKilled(path, after: .milliseconds(Int.random(in: 150...600)))
            let store = try AuditStore(path: path)
            let integrity = try await store.integrityCheck()
            #expect(integrity == ["ok"], "round \(round)")
            let stored = Set(try await store.all().map(\.seq))
            let lost = Set(acknowledged).subtracting(stored)
            #expect(lost.isEmpty, "round \(round): acknowledged but lost: \(lost.sorted().prefix(10))")
            #expect(try await store.verify().ok, "round \(round)")
            total += acknowledged.count
            try await store.close()
        }
        #expect(total > 0, "the child never acknowledged anything")
    }
}
