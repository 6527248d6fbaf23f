import AuthSignalClient
import AuthSignalCore
import AuthSignalDaemon
import Foundation
import Glibc
import TestSupport
import Testing

extension DaemonTests {
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

extension DaemonTests {
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

        /// The bound a login must keep: the hook's 500 ms, once per hook run, plus process starts.
        static let bound = Duration.milliseconds(2500)

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

extension DaemonTests {
    /// Diagnostics a client causes are rate-limited per uid and summarised, so that audit
    /// entries keep the journal's budget; every refusal is still counted (items 6 and 9).
    @Suite struct DiagnosticsTests {
        @Test func refusalLogLimitsEachUidAndSummarises() {
            let log = RefusalLog(burst: 2, window: .seconds(10))
            let start = ContinuousClock.now
            var decisions: [RefusalLog.Decision] = []
            for offset in 0..<5 {
                decisions.append(log.record(uid: 1000, code: .forbidden, now: start + .milliseconds(offset)).0)
            }
            #expect(decisions == [.log, .log, .suppress, .suppress, .suppress])
            // Another uid has its own budget.
            #expect(log.record(uid: 1001, code: .invalidJSON, now: start).0 == .log)
            #expect(log.flush(now: start + .seconds(5)).isEmpty)
            // The next window starts with the summary of the last.
            let (decision, summary) = log.record(uid: 1000, code: .invalidJSON, now: start + .seconds(11))
            #expect(decision == .log)
            #expect(summary == RefusalLog.Summary(uid: 1000, suppressed: [.forbidden: 3]))
            #expect(
                summary?.message == "3 more refused requests from uid 1000 were not logged one by one (forbidden 3)")
            _ = log.record(uid: 1000, code: .invalidJSON, now: start + .seconds(11))
            _ = log.record(uid: 1000, code: .tooLarge, now: start + .seconds(11))
            // A burst that stopped is summarised by the periodic flush.
            #expect(
                log.flush(now: start + .seconds(30)) == [RefusalLog.Summary(uid: 1000, suppressed: [.tooLarge: 1])])
            #expect(log.flush(now: start + .seconds(60)).isEmpty)
        }

        @Test func floodOfForbiddenRequestsIsSummarisedAndCounted() throws {
            let uid = try requireTestAccount()
            let daemon = try DaemonUnderTest(extra: "[Access]\nEmitUsers=\nEmitGroups=\n")
            let count = 20_000
            let lines = Array(repeating: emitLine(user: "flood"), count: count)
            let answers = try requestAs(testAccount, socket: daemon.socketPath, lines)
            #expect(answers.filter { errorCode($0) == "forbidden" }.count == count)
            try waitFor("the summary") { daemon.log.contains("more refused requests from uid \(uid)") }
            let logged = daemon.log.components(separatedBy: "request rejected: forbidden").count - 1
            #expect(logged >= 1 && logged <= 5, "\(logged) refusals logged one by one")
            #expect(daemon.log.contains("\(count - logged) more refused requests from uid \(uid)"))
            let stats = try Client(daemon.socketPath).final(#"{"op":"stats"}"#)
            #expect((stats["refused"] as? [String: Any])?["forbidden"] as? Int == count)
        }

        /// With a systemd watchdog, an idle daemon still stops at once on SIGTERM (it slept half
        /// the watchdog interval before).
        @Test func idleDaemonWithWatchdogStopsWithinASecond() throws {
            let daemon = try DaemonUnderTest(wrapper: ["/usr/bin/env", "WATCHDOG_USEC=30000000"])
            let idle = try Client(daemon.socketPath)
            _ = idle
            usleep(200_000)
            let started = ContinuousClock.now
            daemon.signal(SIGTERM)
            #expect(daemon.waitForExit(timeout: 20) == 0)
            let took = ContinuousClock.now - started
            #expect(took < .seconds(1), "stopping took \(took)")
        }
    }
}

extension DaemonTests {
    /// Smaller findings (item 8), each checked against a real daemon.
    @Suite struct LimitTests {
        /// Other users holding every connection the global limit allows cannot keep root's
        /// (PAM's) event out.
        @Test func rootIsExemptFromMaxConnections() throws {
            _ = try requireTestAccount()
            let daemon = try DaemonUnderTest(extra: "[Socket]\nMaxConnections=2\n")
            let script = """
                import socket, sys, time
                held = []
                for attempt in range(3):
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(sys.argv[1])
                    held.append(s)
                time.sleep(4)
                """
            let holder = try SpawnedProcess([
                "/usr/bin/setpriv", "--reuid=\(testAccount)", "--regid=\(testAccount)", "--init-groups", "--",
                "/usr/bin/python3", "-c", script, daemon.socketPath,
            ])
            usleep(1_000_000)
            let root = try Client(daemon.socketPath)
            #expect(try root.final(emitLine(user: "root-past-the-limit"))["ok"] as? Bool == true)
            holder.signal(SIGKILL)
            holder.wait()
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
