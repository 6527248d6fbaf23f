// Sends audit entries through JournalWriter and compares with the same entries sent by a tight C
// loop calling sd_journal_sendv (scripts/bench-journal builds it with gcc and passes its path).
//
// Run: scripts/bench-journal [ENTRIES]   (or: journal-bench --entries N --floor PATH)
// Prints both rates, then one JSON object with the figures and the ratio as its last line.
import AuditJournal
import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Systemd

var entriesCount = 100_000
var floorPath: String?
var index = 1
let arguments = CommandLine.arguments
while index + 1 < arguments.count {
    switch arguments[index] {
    case "--entries": entriesCount = Int(arguments[index + 1]) ?? entriesCount
    case "--floor": floorPath = arguments[index + 1]
    default: break
    }
    index += 2
}
guard let floorPath else {
    FileHandle.standardError.write(
        Data("usage: journal-bench --entries N --floor PATH (see scripts/bench-journal)\n".utf8))
    exit(2)
}

// Realistic audit entries: the three signals, redacted credentials, request JSON, hashes.
let redactor = Redactor(
    mode: .hmac, key: try RedactionKey(bytes: Array(repeating: 3, count: 32)), isKnownAccount: { _ in true })
let entries: [JournalEntry] = (0..<entriesCount).map { number in
    let signal = AuthSignal.allCases[number % 3]
    let event = redactor.redact(
        AuthEvent(
            signal: signal, sender: "sshd", user: "user\(number % 10_000)",
            request: [
                "remote_addr": .string("198.18.\(number % 200).\(number % 250)"),
                "remote_port": .int(Int64(40_000 + number % 20_000)), "tty": .string("ssh"),
            ],
            credentials: signal == .userLoginFailed
                ? ["username": .string("user\(number % 10_000)"), "password": .string("guess\(number % 97)")] : nil),
        peer: PeerCredentials(uid: 0, gid: 0, pid: Int32(1_000 + number % 5_000)))
    let record = AuditRecord(
        event: event, seq: Int64(number + 1), received: Date(), prevHash: Data(count: 32),
        hash: Data(repeating: UInt8(number & 0xFF), count: 32))
    return AuditJournal.entry(for: record, trustedSender: true)
}

// The same entries for the C loop.
func encodeForFloor(_ entries: [JournalEntry]) -> Data {
    var file = Data()
    func put(_ value: UInt32) { withUnsafeBytes(of: value) { file.append(contentsOf: $0) } }
    put(UInt32(entries.count))
    for entry in entries {
        put(UInt32(entry.fields.count))
        for field in entry.fields {
            let bytes = Array(field.name.name.utf8) + [UInt8(ascii: "=")] + field.value
            put(UInt32(bytes.count))
            file.append(contentsOf: bytes)
        }
    }
    return file
}
let file = encodeForFloor(entries)
let dataPath = FileManager.default.temporaryDirectory.path + "/journal-bench-\(getpid()).bin"
try file.write(to: URL(fileURLWithPath: dataPath))
defer { try? FileManager.default.removeItem(atPath: dataPath) }

func runFloor() throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: floorPath)
    process.arguments = [dataPath]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0, let value = Double(output.trimmingCharacters(in: .whitespacesAndNewlines))
    else {
        FileHandle.standardError.write(Data("journal-floor failed\n".utf8))
        exit(1)
    }
    return value
}

func runWriter() throws -> Double {
    let writer = JournalWriter()
    var best = Double.infinity
    for _ in 0..<3 {
        let start = ContinuousClock.now
        for entry in entries { try writer.send(entry) }
        let elapsed = ContinuousClock.now - start
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        best = min(best, nanoseconds / Double(entries.count))
    }
    return best
}

// Alternate the two, twice, and keep each one's best: journald's load varies during a run.
var floorNs = Double.infinity
var writerNs = Double.infinity
for _ in 0..<2 {
    floorNs = min(floorNs, try runFloor())
    writerNs = min(writerNs, try runWriter())
}
let floorRate = 1e9 / floorNs
let writerRate = 1e9 / writerNs
print("journal-bench: \(entries.count) audit entries, best of 6 passes each")
print(String(format: "  C loop (sd_journal_sendv): %10.0f entries/s  (%.0f ns/entry)", floorRate, floorNs))
print(String(format: "  JournalWriter:             %10.0f entries/s  (%.0f ns/entry)", writerRate, writerNs))
print(String(format: "  writer / C loop: %.2f", writerRate / floorRate))
let json: [String: Double] = [
    "entries": Double(entries.count), "c_loop_entries_per_s": floorRate, "writer_entries_per_s": writerRate,
    "writer_over_c_loop": writerRate / floorRate,
]
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
print(String(decoding: try encoder.encode(json), as: UTF8.self))
