import AuthSignalProtocol
import Foundation
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    /// `authsignal import` of real utmp files made by util-linux's `utmpdump -r`: sessions and
    /// failures with their original times, reboots, malformed records reported and skipped, and
    /// a second import storing nothing.
    @Suite struct ImportTests {
        /// A binary utmp file made by `utmpdump -r` from `text`.
        static func utmp(_ text: String, in directory: TemporaryDirectory, name: String) throws -> String {
            let textPath = directory.path + "/\(name).txt"
            let path = directory.path + "/\(name)"
            try text.write(toFile: textPath, atomically: true, encoding: .utf8)
            let made = try runCommand("/bin/sh", ["-c", "utmpdump -r < '\(textPath)' > '\(path)'"])
            #expect(made.status == 0, "\(made.output)")
            return path
        }

        static let wtmp = """
            [2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-test          ] [0.0.0.0        ] [2026-11-01T08:00:00,000000+00:00]
            [7] [01234] [ts/1] [alice   ] [pts/1       ] [192.0.2.7           ] [192.0.2.7      ] [2026-11-01T09:00:00,000000+00:00]
            [7] [01240] [ts/2] [bob     ] [pts/2       ] [198.51.100.4        ] [198.51.100.4   ] [2026-11-01T09:05:00,000000+00:00]
            [6] [01300] [tty2] [LOGIN   ] [tty2        ] [                    ] [0.0.0.0        ] [2026-11-01T09:06:00,000000+00:00]
            [8] [01234] [ts/1] [        ] [pts/1       ] [                    ] [0.0.0.0        ] [2026-11-01T10:30:00,000000+00:00]
            [8] [01999] [ts/5] [        ] [pts/5       ] [                    ] [0.0.0.0        ] [2026-11-01T10:31:00,000000+00:00]
            [2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-test          ] [0.0.0.0        ] [2026-11-02T08:00:00,000000+00:00]
            [7] [02000] [tty1] [carol   ] [tty1        ] [                    ] [0.0.0.0        ] [2026-11-02T09:00:00,000000+00:00]
            [7] [02001] [tty3] [dave    ] [tty3        ] [                    ] [0.0.0.0        ] [2026-11-02T09:30:00,000000+00:00]

            """

        static let btmp = """
            [6] [03000] [ssh:] [root    ] [ssh:notty   ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-03T01:00:00,000000+00:00]
            [6] [03001] [ssh:] [root    ] [ssh:notty   ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-03T01:00:05,000000+00:00]
            [6] [03002] [ssh:] [admin123] [ssh:notty   ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-03T01:00:09,000000+00:00]

            """

        @Test func wtmpAndBtmpBecomeSessionsAndFailuresOnceEach() throws {
            let daemon = try DaemonUnderTest()
            let directory = try TemporaryDirectory()
            let wtmp = try Self.utmp(Self.wtmp, in: directory, name: "wtmp")
            // Malformed: dave's record gets an unknown type, and half a record trails the file.
            var bytes = try Data(contentsOf: URL(fileURLWithPath: wtmp))
            bytes[8 * 384] = 42
            bytes += Data(repeating: 7, count: 100)
            try bytes.write(to: URL(fileURLWithPath: wtmp))

            let first = try cli(["import", wtmp], socket: daemon.socketPath)
            #expect(first.status == 0, "\(first.err)")
            #expect(
                first.out == "\(wtmp) (wtmp): 1 ends without a login, 3 logins, 1 logouts, 1 not an event (type 6), "
                    + "2 reboots, 2 malformed; 4 stored, 0 imported before\n", "\(first.out)")
            #expect(first.err.contains("record 9: unknown record type 42, skipped"), "\(first.err)")
            #expect(first.err.contains("record 10: 100 trailing bytes"), "\(first.err)")
            let again = try cli(["import", wtmp], socket: daemon.socketPath)
            #expect(again.out.hasSuffix("; 0 stored, 4 imported before\n"), "\(again.out)")

            let last = try cli(
                ["last", "--since", "2026-11-01T00:00:00Z", "--reverse", "--format", "jsonl"], socket: daemon.socketPath
            )
            let sessions = try last.out.split(separator: "\n").map { try object(String($0)) }
            #expect(sessions.map { $0["user"] as? String } == ["alice", "bob", "carol"], "\(last.out)")
            #expect(sessions.map { $0["status"] as? String } == ["ended", "gone", "gone"])
            #expect(sessions[0]["duration_seconds"] as? Double == 5400)
            #expect(sessions[0]["start"] as? String == "2026-11-01T09:00:00.000000Z")
            #expect(
                sessions.allSatisfy { $0["pairing"] as? String == "key" && $0["sender"] as? String == "import-wtmp" })
            let present = try cli(
                ["last", "--present", "2026-11-01T09:10:00Z", "--format", "csv"], socket: daemon.socketPath)
            #expect(
                present.out.split(separator: "\n").dropFirst().map {
                    $0.split(separator: ",", omittingEmptySubsequences: false)[2]
                } == ["bob", "alice"])

            let btmp = try Self.utmp(Self.btmp, in: directory, name: "btmp")
            let failures = try cli(["import", btmp], socket: daemon.socketPath)
            #expect(failures.out.hasSuffix("(btmp): 3 failures; 3 stored, 0 imported before\n"), "\(failures.out)")
            let root = try object(
                try cli(["lastlog", "--user", "root", "--format", "jsonl"], socket: daemon.socketPath).out)
            #expect(root["failures"] as? Int == 2)
            #expect((root["last_failure"] as? [String: Any])?["time"] as? String == "2026-11-03T01:00:05.000000Z")
            let imported = try cli(
                ["query", "--sender", "import-btmp", "--format", "jsonl"], socket: daemon.socketPath)
            let records = try imported.out.split(separator: "\n").map { try object(String($0)) }
            #expect(records.count == 3)
            #expect(records.allSatisfy { ($0["request"] as? [String: Any])?["imported"] as? String == "btmp" })
            // A name that is no account is stored keyed-hashed, as a live failure's would be.
            #expect((records[2]["user"] as? String)?.hasPrefix("hmac-sha256:") == true, "\(records[2])")
        }

        /// A file is read a chunk at a time: a whole 100 MB wtmp once took 409 MiB (issue 24,
        /// item 8). 100 MB of records that are no event (a login prompt's, type 6) are read
        /// through, counted, and the importer's peak stays a small fraction of the file.
        @Test func aLargeFileIsReadInConstantMemory() throws {
            let daemon = try DaemonUnderTest()
            let directory = try TemporaryDirectory()
            let one = try Data(
                contentsOf: URL(
                    fileURLWithPath: try Self.utmp(
                        "[6] [01300] [tty2] [LOGIN   ] [tty2        ] [                    ] [0.0.0.0        ] "
                            + "[2026-11-01T09:06:00,000000+00:00]\n", in: directory, name: "one")))
            #expect(one.count == 384)
            let records = 100 * 1024 * 1024 / 384
            let path = directory.path + "/wtmp.large"
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            let block = Data(repeating: 0, count: 0) + (0..<4096).reduce(into: Data()) { data, _ in data += one }
            for _ in 0..<(records / 4096) { try handle.write(contentsOf: block) }
            try handle.close()
            // The importer's peak resident size, from its parent's rusage.
            let measured = try runCommand(
                "/usr/bin/python3",
                [
                    "-c",
                    "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:],capture_output=True,text=True); "
                        + "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stdout)",
                    cliPath, "import", "--socket", daemon.socketPath, path,
                ])
            let lines = measured.output.split(separator: "\n")
            let figures = try #require(lines.first).split(separator: " ").compactMap { Int($0) }
            #expect(figures.first == 0, "\(measured.output)")
            #expect(lines.dropFirst().first?.contains("\(records / 4096 * 4096) not an event (type 6)") == true)
            let peakKiB = try #require(figures.last)
            #expect(peakKiB < 64 * 1024, "the importer peaked at \(peakKiB) KiB for a 100 MB file")
        }
    }
}
