import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

/// The seq each line of the export files carries, oldest file first (`PATH.N` … `PATH.1`, `PATH`).
private func exportedSeqs(_ path: String, keep: Int) throws -> [Int] {
    let files = (1...keep).reversed().map { "\(path).\($0)" } + [path]
    var seqs: [Int] = []
    for file in files where FileManager.default.fileExists(atPath: file) {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let event = try object(String(line))
            let custom = (event["unmapped"] as? [String: Any])?["authsignal"] ?? event["authsignal"]
            seqs.append(try #require((custom as? [String: Any])?["seq"] as? Int))
        }
    }
    return seqs
}

extension SpawnedTests {
    /// The export file under the worst a host does to it: the export service killed with SIGKILL
    /// again and again while records arrive and the file rotates, then restarted each time.
    @Suite struct ExportFileTests {
        @Test func killedAndRotatedTheExportHasNoGapAndNoDuplicate() throws {
            let keep = 50
            let daemon = try DaemonUnderTest(
                extra: "[Export]\nPath=export.jsonl\nMaxFileMiB=1\nKeepFiles=\(keep)\n")
            let socket = daemon.socketPath
            let path = daemon.directory.file("export.jsonl")
            let exporter = [cliPath, "export", "run", "--config", daemon.configPath]
            let total = 5000
            let sender = Thread {
                for batch in 0..<(total / 200) {
                    let lines = (0..<200).map { index in
                        emitLine("user_logged_in", user: "root", id: "export-\(batch)-\(index)")
                    }
                    _ = try? cli(["send", "--json"], socket: socket, stdin: lines.joined(separator: "\n") + "\n")
                }
            }
            sender.start()
            var kills = 0
            var service = try SpawnedProcess(exporter)
            // Killed at uneven moments: inside a write, between a write and its flush, mid-rotation.
            while kills < 25 {
                usleep(UInt32.random(in: 50_000...250_000))
                service.signal(SIGKILL)
                service.wait()
                kills += 1
                service = try SpawnedProcess(exporter)
            }
            try waitFor("all \(total) records exported") {
                let status = try cli(["export", "--config", daemon.configPath], socket: socket)
                return status.out.contains("records up to \(total) exported")
            }
            service.signal(SIGTERM)
            #expect(service.wait() != nil)
            let seqs = try exportedSeqs(path, keep: keep)
            let duplicates = seqs.count - Set(seqs).count
            let gaps = Set(1...total).subtracting(seqs).count
            #expect(
                seqs == Array(1...total),
                "\(seqs.count) lines, \(duplicates) duplicates, \(gaps) gaps, after \(kills) kills")
            let rotated = (1...keep).filter { FileManager.default.fileExists(atPath: "\(path).\($0)") }.count
            #expect(rotated >= 3, "\(rotated) rotated files")
            for index in 1...rotated {
                var rotatedInfo = stat()
                #expect(stat("\(path).\(index)", &rotatedInfo) == 0 && rotatedInfo.st_size <= 1 << 20)
            }
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o640)
        }

        /// A restart resumes after the last line; a file whose last line is not an exported record
        /// is refused with a message that says what to do, and nothing is appended to it.
        @Test func resumesAfterItsLastLineAndRefusesAForeignFile() throws {
            let daemon = try DaemonUnderTest(extra: "[Export]\nPath=export.jsonl\n")
            let socket = daemon.socketPath
            let path = daemon.directory.file("export.jsonl")
            for index in 1...3 {
                #expect(try cli(["send", "login", "--user", "u\(index)"], socket: socket).status == 0)
            }
            let first = try SpawnedProcess([cliPath, "export", "run", "--config", daemon.configPath])
            try waitFor("3 exported") { (try? exportedSeqs(path, keep: 5))?.count == 3 }
            first.signal(SIGTERM)
            #expect(first.wait() != nil)
            // A torn line, as a kill inside a write leaves it.
            let handle = try #require(FileHandle(forWritingAtPath: path))
            handle.seekToEndOfFile()
            handle.write(Data(#"{"@timestamp":"2026-"#.utf8))
            try handle.close()
            for index in 4...5 {
                #expect(try cli(["send", "login", "--user", "u\(index)"], socket: socket).status == 0)
            }
            let second = try SpawnedProcess([cliPath, "export", "run", "--config", daemon.configPath])
            try waitFor("5 exported") { (try? exportedSeqs(path, keep: 5))?.count == 5 }
            second.signal(SIGTERM)
            #expect(second.wait() != nil)
            #expect(try exportedSeqs(path, keep: 5) == [1, 2, 3, 4, 5])

            try "not an export\n".write(toFile: path, atomically: true, encoding: .utf8)
            let status = try cli(["export", "--config", daemon.configPath], socket: socket)
            #expect(
                status.status == 3 && status.err.contains("is not a record authsignal exported; move the file away"))
        }
    }
}
