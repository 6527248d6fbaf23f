import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    /// The PAM hook through real PAM (pamtester) against a daemon that is frozen, slow or gone:
    /// every login finishes within the hook's bound, and every event is stored exactly once when
    /// the daemon can take it again (issue 12, items 2 and 3).
    @Suite struct HookSpoolTests {
        /// The PAM service, its daemon and the hook's bound.
        struct Setup {
            let daemon: DaemonUnderTest
            let pam: PAMService

            init() throws {
                daemon = try DaemonUnderTest()
                pam = try PAMService(
                    hook: "\(cliPath) pam --socket \(daemon.socketPath) --spool \(daemon.spoolPath) --timeout 500ms")
            }

            /// A failed login and a session as the account: each within `bound`.
            func logIn(within bound: Duration) throws {
                let failed = try pam.run(PAMService.wrong, ["authenticate"])
                #expect(failed.status != 0 && failed.status != -1, "pamtester: \(failed.status)")
                #expect(failed.elapsed < bound, "a failed login took \(failed.elapsed)")
                let session = try pam.run(PAMService.password, ["authenticate", "open_session"])
                #expect(session.status == 0, "pamtester: \(session.status)")
                #expect(session.elapsed < bound, "a login took \(session.elapsed)")
            }

            /// The account's records once the spool is empty.
            func recordsOnceDrained() throws -> [[String: Any]] {
                try waitFor("the spool to drain") { spooledFiles().isEmpty }
                var records: [[String: Any]] = []
                try waitFor("both events") {
                    let lines = try Client(daemon.socketPath).request(
                        #"{"op":"query","user":"\#(PAMService.account)"}"#)
                    records = try lines.dropLast().map { try #require(try object($0)["record"] as? [String: Any]) }
                    return records.count >= 2
                }
                usleep(300_000)
                let lines = try Client(daemon.socketPath).request(#"{"op":"query","user":"\#(PAMService.account)"}"#)
                return try lines.dropLast().map { try #require(try object($0)["record"] as? [String: Any]) }
            }

            func spooledFiles() -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: daemon.spoolPath)) ?? []).filter {
                    $0.hasSuffix(Spool.suffix)
                }
            }
        }

        /// The bound a login must keep (``hookBound``).
        static let bound = hookBound

        @Test func frozenDaemon() throws {
            let setup = try Setup()
            setup.daemon.signal(SIGSTOP)
            try setup.logIn(within: Self.bound)
            #expect(setup.spooledFiles().count == 2)
            setup.daemon.signal(SIGCONT)
            // The frozen daemon had both requests queued on its socket and stores them; the spool
            // holds them too, under the same ids: each is stored once.
            let records = try setup.recordsOnceDrained()
            #expect(records.compactMap { $0["signal"] as? String }.sorted() == ["user_logged_in", "user_login_failed"])
        }

        @Test func slowDaemon() throws {
            let setup = try Setup()
            // Another process holds the audit log's write lock for three seconds.
            let holder = try SpawnedProcess([
                "/usr/bin/python3", "-c",
                "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1],isolation_level=None); "
                    + "c.execute('BEGIN EXCLUSIVE'); time.sleep(3); c.execute('COMMIT')",
                setup.daemon.databasePath,
            ])
            usleep(300_000)
            try setup.logIn(within: Self.bound)
            holder.wait()
            let records = try setup.recordsOnceDrained()
            #expect(records.compactMap { $0["signal"] as? String }.sorted() == ["user_logged_in", "user_login_failed"])
        }

        @Test func absentDaemonThenStarted() throws {
            let setup = try Setup()
            #expect(setup.daemon.stop() == 0)
            let loggedInAt = Date()
            try setup.logIn(within: Self.bound)
            #expect(setup.spooledFiles().count == 2)
            sleep(1)
            try setup.daemon.start()
            let records = try setup.recordsOnceDrained()
            #expect(records.map { $0["signal"] as? String } == ["user_login_failed", "user_logged_in"])
            for record in records {
                // Marked as spooled (pid 0, the file's owner as peer) with the time it happened.
                #expect((record["peer"] as? [String: Any])?["pid"] as? Int == 0)
                #expect((record["peer"] as? [String: Any])?["uid"] as? Int == 0)
                let time = try #require((record["time"] as? String).flatMap(RFC3339.parse))
                let received = try #require((record["received"] as? String).flatMap(RFC3339.parse))
                #expect(abs(time.timeIntervalSince(loggedInAt)) < 5)
                #expect(received.timeIntervalSince(time) >= 1)
            }
            #expect(setup.daemon.log.contains("stored 2 events from the spool"))
            // The hook reported each failure to deliver, and that it spooled the event.
            if FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
                try waitFor("the hook's journal entries") {
                    let export = try runCommand(
                        "/usr/bin/journalctl",
                        ["-o", "export", "--no-pager", "SYSLOG_IDENTIFIER=authsignal-pam", "--since", "-2min"])
                    return export.output.components(separatedBy: "AUTHSIGNAL_HOOK_RESULT=spooled").count > 2
                }
            }
            let stats = try Client(setup.daemon.socketPath).final(#"{"op":"stats"}"#)
            #expect((stats["spool"] as? [String: Any])?["stored"] as? Int == 2)
        }

        /// A spooled event is sealed: nothing of it is readable in the file.
        @Test func spoolFilesAreSealed() throws {
            let setup = try Setup()
            #expect(setup.daemon.stop() == 0)
            let marker = "Secret-As-User-\(UInt32.random(in: 0...UInt32.max))"
            let hook = Process()
            hook.executableURL = URL(fileURLWithPath: cliPath)
            hook.arguments = ["pam", "--socket", setup.daemon.socketPath, "--spool", setup.daemon.spoolPath]
            hook.environment = ["PAM_TYPE": "auth", "PAM_USER": marker, "PAM_SERVICE": "sshd"]
            hook.standardInput = FileHandle.nullDevice
            try hook.run()
            hook.waitUntilExit()
            #expect(hook.terminationStatus == 0)
            let files = setup.spooledFiles()
            #expect(files.count == 1)
            for file in files {
                let data = try #require(FileManager.default.contents(atPath: setup.daemon.spoolPath + "/" + file))
                #expect(data.range(of: Data(marker.utf8)) == nil)
                #expect(data.range(of: Data("user_login_failed".utf8)) == nil)
                var info = stat()
                #expect(stat(setup.daemon.spoolPath + "/" + file, &info) == 0 && info.st_mode & 0o777 == 0o640)
            }
        }
    }

    /// A full spool is reported and left as it is: the hook never fills the disk.
    @Suite struct SpoolBoundTests {
        @Test func aFullSpoolTakesNoMoreAndTheHookSaysSo() throws {
            let daemon = try DaemonUnderTest()
            #expect(daemon.stop() == 0)
            for index in 0..<Spool.maximumFiles {
                let name = daemon.spoolPath + "/" + Spool.fileName(time: Date(), id: "filler-\(index)")
                #expect(FileManager.default.createFile(atPath: name, contents: nil))
            }
            let hook = Process()
            hook.executableURL = URL(fileURLWithPath: cliPath)
            hook.arguments = ["pam", "--socket", daemon.socketPath, "--spool", daemon.spoolPath]
            hook.environment = ["PAM_TYPE": "auth", "PAM_USER": "alice", "PAM_SERVICE": "sshd"]
            hook.standardInput = FileHandle.nullDevice
            let errors = Pipe()
            hook.standardError = errors
            try hook.run()
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            hook.waitUntilExit()
            #expect(hook.terminationStatus == 0)
            #expect(said.contains("lost") && said.contains("the spool is full: 10000 events wait in it"), "\(said)")
            let files = try FileManager.default.contentsOfDirectory(atPath: daemon.spoolPath)
            #expect(files.filter { $0.hasSuffix(Spool.suffix) }.count == Spool.maximumFiles)
        }
    }
}
