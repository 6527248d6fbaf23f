// The crash test's child and checker.
//
//   store-stress append DATABASE [APPENDERS]
//       Appends as fast as it can and prints every acknowledged seq, one per line, written at
//       once: the crash test kills it with SIGKILL at a random moment.
//   store-stress check DATABASE ACKNOWLEDGED-FILE
//       Opens the database as after a crash and checks that every seq listed in the file is
//       present, that `PRAGMA integrity_check` says ok and that the hash chain verifies.
//
// Tests/AuditStoreTests/CrashTests.swift runs a few rounds; scripts/stress-store runs many.
import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("store-stress: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
case (3...4, "append"):
    try await append(to: arguments[2], appenders: arguments.count == 4 ? Int(arguments[3]) ?? 8 : 8)
case (4, "check"):
    try await check(arguments[2], acknowledged: arguments[3])
default:
    FileHandle.standardError.write(
        Data("usage: store-stress append DATABASE [APPENDERS] | check DATABASE ACKNOWLEDGED-FILE\n".utf8))
    exit(2)
}

func append(to path: String, appenders: Int) async throws {
    let store = try AuditStore(path: path)
    let redactor = Redactor(mode: .mask, key: try RedactionKey(bytes: Array(repeating: 7, count: 32)))
    await withTaskGroup(of: Void.self) { group in
        for appender in 0..<appenders {
            group.addTask {
                var index = 0
                while true {
                    index += 1
                    let event = AuthEvent(
                        signal: .userLoginFailed, sender: "stress", user: "user\(appender)",
                        request: ["remote_addr": .string("192.0.2.\(index % 250)")],
                        credentials: ["username": .string("user\(appender)"), "password": .string("secret\(index)")],
                        id: index % 10 == 0 ? "a\(appender)-\(index)" : nil)
                    let redacted = redactor.redact(event, peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
                    do {
                        let appended = try await store.append(redacted)
                        // One unbuffered write per acknowledgement: nothing printed early or lost late.
                        FileHandle.standardOutput.write(Data("\(appended.seq)\n".utf8))
                    } catch {
                        fail("append failed: \(error)")
                    }
                }
            }
        }
    }
}

func check(_ path: String, acknowledged file: String) async throws {
    let text = try String(contentsOfFile: file, encoding: .utf8)
    // A line cut short by the kill is not a complete acknowledgement.
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    let acknowledged = Set(lines.compactMap { Int64($0) })
    let store = try AuditStore(path: path)
    guard try await store.integrityCheck() == ["ok"] else { fail("integrity_check failed") }
    var present = Set<Int64>()
    // Earlier rounds' records were checked by earlier rounds: read from this round's first on.
    let earliest = (acknowledged.min() ?? 1) - 1
    for try await record in store.records(matching: RecordFilter(afterSeq: earliest)) { present.insert(record.seq) }
    let lost = acknowledged.subtracting(present)
    guard lost.isEmpty else { fail("\(lost.count) acknowledged records lost, first \(lost.min()!)") }
    let report = try await store.verify()
    guard report.ok else { fail("chain does not verify: \(report.problem!)") }
    print("ok: \(acknowledged.count) acknowledged, \(present.count) stored since, chain of \(report.checked) verified")
}
