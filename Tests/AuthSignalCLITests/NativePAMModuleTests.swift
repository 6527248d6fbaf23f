import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import SpawnSupport
import Synchronization
import TestSupport
import Testing

/// The native module, built from pam/ with make the first time a test asks for it.
private let builtModule = Mutex<String?>(nil)

/// The path of `pam_authsignal.so`, built (incrementally) from this checkout's pam/.
func nativeModule() throws -> String {
    try builtModule.withLock { (cached: inout String?) throws -> String in
        if let cached { return cached }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let made = try runCommand("/usr/bin/make", ["-s", "-C", root + "/pam", "BUILD=" + root + "/.build-pam"])
        guard made.status == 0 else { throw DaemonTestError("make -C pam failed: \(made.output)") }
        let path = root + "/.build-pam/pam_authsignal.so"
        cached = path
        return path
    }
}

extension SpawnedTests {
    /// `pam_authsignal.so` through real PAM (pamtester): the same events as the pam_exec hook, and
    /// recorded where the hook was not — under the limits and signals of the user who starts a
    /// setuid PAM application (issue 24, item 7).
    @Suite struct NativePAMModuleTests {
        /// A daemon and a PAM service recording through the module.
        struct Setup {
            let daemon: DaemonUnderTest
            let pam: PAMService

            init(options: String = "", sessionControl: String = "optional", spool: String? = nil) throws {
                daemon = try DaemonUnderTest()
                let module =
                    "\(try nativeModule()) socket=\(daemon.socketPath) spool=\(spool ?? daemon.spoolPath) \(options)"
                pam = try PAMService(auth: "[default=ignore] \(module)", session: "\(sessionControl) \(module)")
            }

            /// The records of this service's events, once `count` are there.
            func records(count: Int) throws -> [[String: Any]] {
                var records: [[String: Any]] = []
                try waitFor("\(count) records from \(pam.service)") {
                    let lines = try Client(daemon.socketPath).request(#"{"op":"query","sender":"\#(pam.service)"}"#)
                    records = try lines.dropLast().map { try #require(try object($0)["record"] as? [String: Any]) }
                    return records.count >= count
                }
                return records
            }
        }

        @Test func recordsAFailedLoginAndASessionAsTheHookDoes() throws {
            let setup = try Setup()
            defer { setup.pam.remove() }
            let failed = try setup.pam.run(PAMService.wrong, ["authenticate"])
            #expect(failed.status != 0 && failed.status != -1)
            var session: pid_t = 0
            let opened = try setup.pam.run(
                ["/usr/bin/pamtester"] + setup.pam.arguments(["authenticate", "open_session", "close_session"]),
                password: PAMService.password
            ) { session = $0 }
            #expect(opened.status == 0, "\(opened.output)")
            let records = try setup.records(count: 3)
            #expect(
                records.map { $0["signal"] as? String } == ["user_login_failed", "user_logged_in", "user_logged_out"])
            for record in records {
                #expect(record["user"] as? String == PAMService.account)
                // From the application's own process: the kernel reports it, as root.
                let peer = try #require(record["peer"] as? [String: Any])
                #expect(peer["uid"] as? Int == 0 && peer["pid"] as? Int != 0)
                let request = try #require(record["request"] as? [String: Any])
                #expect(request["remote_addr"] as? String == "203.0.113.7")
                #expect(request["tty"] as? String == "pts/9")
                #expect(request["service"] as? String == setup.pam.service)
            }
            // Both ends of the session carry the key naming it: this boot, the application, the
            // service and the tty.
            let keys = records.dropFirst().map { ($0["request"] as? [String: Any])?["pairing"] as? String }
            let boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(keys == Array(repeating: "\(boot)/\(session)/\(setup.pam.service)/pts/9", count: 2))
            #expect(((records[0]["request"] as? [String: Any])?["pairing"]) == nil)
        }

        /// Sealed by the module in C, opened by the daemon with swift-crypto: the spool's format
        /// is one, whichever wrote it.
        @Test func spoolsWhatTheDaemonCannotTakeAndTheDaemonOpensIt() throws {
            let setup = try Setup()
            defer { setup.pam.remove() }
            #expect(setup.daemon.stop() == 0)
            let marker = "Secret-As-User-\(UInt32.random(in: 0...UInt32.max))"
            let failed = try setup.pam.run(
                ["/usr/bin/pamtester"] + setup.pam.arguments(["authenticate"], user: marker), password: "x")
            #expect(failed.status != 0 && failed.status != -1)
            let files = try FileManager.default.contentsOfDirectory(atPath: setup.daemon.spoolPath).filter {
                $0.hasSuffix(Spool.suffix)
            }
            #expect(files.count == 1)
            for file in files {
                #expect(Spool.isEventFileName(file))
                let data = try #require(FileManager.default.contents(atPath: setup.daemon.spoolPath + "/" + file))
                #expect(data.range(of: Data(marker.utf8)) == nil && data.range(of: Data("emit".utf8)) == nil)
                var info = stat()
                #expect(stat(setup.daemon.spoolPath + "/" + file, &info) == 0 && info.st_mode & 0o777 == 0o640)
            }
            try setup.daemon.start()
            let record = try #require(try setup.records(count: 1).first)
            #expect(record["signal"] as? String == "user_login_failed")
            #expect((record["peer"] as? [String: Any])?["pid"] as? Int == 0)
            // Not an account: the name is stored as its keyed hash, never as typed.
            #expect((record["user"] as? String)?.hasPrefix("hmac-sha256:") == true)
        }

        /// A user name of 70,000 bytes (and one of bytes that are not UTF-8, with terminal
        /// escapes) is recorded: cut to its bound and marked so.
        @Test func recordsHostileUserNames() throws {
            let setup = try Setup()
            defer { setup.pam.remove() }
            let huge = String(repeating: "x", count: 70_000)
            let long = try setup.pam.run(
                ["/usr/bin/pamtester"] + setup.pam.arguments(["authenticate"], user: huge), password: "x")
            #expect(long.status != 0 && long.status != -1)
            let script = #"exec /usr/bin/pamtester "$1" "$(printf 'a\377\033]0;b\007"\\')" authenticate"#
            let odd = try setup.pam.run(["/bin/sh", "-c", script, "sh", setup.pam.service], password: "x")
            #expect(odd.status != 0 && odd.status != -1)
            let records = try setup.records(count: 2)
            let request = try #require(records[0]["request"] as? [String: Any])
            #expect(request["truncated"] as? [String] == ["user"])
            #expect(records.allSatisfy { ($0["user"] as? String)?.hasPrefix("hmac-sha256:") == true })
            #expect((records[1]["request"] as? [String: Any])?["truncated"] == nil)
        }

        /// An application killed after the module sent its event, before the answer, still has
        /// its event stored: the daemon keeps what it read when the connection goes away.
        @Test func anEventIsStoredWhenItsSenderDiesBeforeTheAnswer() throws {
            let daemon = try DaemonUnderTest()
            for index in 0..<20 {
                let client = try Client(daemon.socketPath)
                try client.send(
                    #"{"op":"emit","signal":"user_login_failed","sender":"killed-early","user":"u\#(index)"}"# + "\n")
                // What the kernel does to a killed process's socket: closed, nothing read.
                var linger = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            }
            try waitFor("all 20 stored") {
                try Client(daemon.socketPath).request(#"{"op":"query","sender":"killed-early"}"#).count == 21
            }
        }

        /// The pam_exec hook cuts the same way: a 70,000-byte `PAM_USER` is recorded, marked.
        @Test func theHookCutsAHugeUserNameToo() throws {
            let daemon = try DaemonUnderTest()
            let hook = Process()
            hook.executableURL = URL(fileURLWithPath: cliPath)
            hook.arguments = ["pam", "--socket", daemon.socketPath, "--spool", daemon.spoolPath]
            hook.environment = [
                "PAM_TYPE": "auth", "PAM_USER": String(repeating: "y", count: 70_000), "PAM_SERVICE": "hook-cut",
            ]
            hook.standardInput = FileHandle.nullDevice
            try hook.run()
            hook.waitUntilExit()
            #expect(hook.terminationStatus == 0)
            let lines = try Client(daemon.socketPath).request(#"{"op":"query","sender":"hook-cut"}"#)
            let line = try #require(lines.first)
            let record = try #require(try object(line)["record"] as? [String: Any])
            #expect((record["request"] as? [String: Any])?["truncated"] as? [String] == ["user"])
            #expect((record["user"] as? String)?.hasPrefix("hmac-sha256:") == true)
        }

        /// `fail_closed`: a session whose login can be neither stored nor spooled is refused;
        /// without it, the login goes on and the loss is reported.
        @Test func failClosedDeniesALoginThatCannotBeRecorded() throws {
            let closed = try Setup(options: "fail_closed", sessionControl: "required", spool: "/nonexistent/spool")
            defer { closed.pam.remove() }
            #expect(closed.daemon.stop() == 0)
            let denied = try closed.pam.run(PAMService.password, ["authenticate", "open_session"])
            #expect(denied.status != 0 && denied.status != -1, "\(denied.output)")
            let open = try Setup(sessionControl: "required", spool: "/nonexistent/spool")
            defer { open.pam.remove() }
            #expect(open.daemon.stop() == 0)
            let allowed = try open.pam.run(PAMService.password, ["authenticate", "open_session"])
            #expect(allowed.status == 0, "\(allowed.output)")
        }
    }

    /// A setuid PAM application (a setuid copy of pamtester stands in for su) started by a user
    /// with no groups, who chose its limits and may signal it: each failure is recorded
    /// (issue 24, item 7: with the pam_exec hook, each of these lost the event).
    @Suite struct SetuidApplicationTests {
        /// The setuid copy of pamtester, in a directory the user may enter.
        struct SetuidTester {
            let directory: TemporaryDirectory
            let path: String

            init() throws {
                directory = try TemporaryDirectory()
                path = directory.file("pamtester")
                try FileManager.default.copyItem(atPath: "/usr/bin/pamtester", toPath: path)
                #expect(chown(path, 0, 0) == 0 && chmod(path, 0o4755) == 0)
            }
        }

        /// `testAccount` running the setuid tester for a failed login of the PAM account, after
        /// `limits` (shell commands such as `ulimit -n 5`).
        static func failAsUser(_ setup: NativePAMModuleTests.Setup, _ tester: SetuidTester, limits: String)
            throws -> Int32
        {
            let uid = try requireTestAccount()
            let account = try #require(getpwuid(uid)).pointee
            let command = [
                "/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(account.pw_gid)", "--clear-groups", "/bin/sh", "-c",
                "\(limits); exec \"$0\" \"$@\"", tester.path,
            ]
            return try setup.pam.run(command + setup.pam.arguments(["authenticate"]), password: PAMService.wrong).status
        }

        /// (With `ulimit -n 4` the application cannot start PAM at all: no attempt, nothing to record.)
        @Test(arguments: ["ulimit -v 60000", "ulimit -v 100000", "ulimit -n 5", "ulimit -s 32"])
        func recordsUnderHostileLimits(limits: String) throws {
            let setup = try NativePAMModuleTests.Setup()
            defer { setup.pam.remove() }
            let tester = try SetuidTester()
            let status = try Self.failAsUser(setup, tester, limits: limits)
            #expect(status != 0 && status != -1, "the tester ended with \(status)")
            let records = try setup.records(count: 1)
            #expect(records.map { $0["signal"] as? String } == ["user_login_failed"])
            #expect(records.first?["user"] as? String == PAMService.account)
        }

        /// `ulimit -f 0` makes the module's write to the spool fail (and kills the application with
        /// SIGXFSZ unless the user ignores it): the module raises the limit while it writes, which
        /// takes CAP_SYS_RESOURCE. Where even root lacks it (some containers), the loss is
        /// reported and the application still finishes.
        @Test func spoolsUnderAZeroFileSizeLimit() throws {
            let setup = try NativePAMModuleTests.Setup()
            defer { setup.pam.remove() }
            #expect(setup.daemon.stop() == 0)
            let tester = try SetuidTester()
            let status = try Self.failAsUser(setup, tester, limits: "ulimit -f 0")
            #expect(status != 0 && status != -1, "the tester ended with \(status)")
            let spooled = try FileManager.default.contentsOfDirectory(atPath: setup.daemon.spoolPath).filter {
                Spool.isEventFileName($0)
            }
            guard rootMayRaiseLimits else {
                #expect(spooled.isEmpty)
                try waitFor("the loss reported to the journal") {
                    try runCommand(
                        "/usr/bin/journalctl",
                        ["-o", "cat", "--no-pager", "SYSLOG_IDENTIFIER=authsignal-pam", "--since", "-1min"]
                    ).output.contains("from \(setup.pam.service) lost")
                }
                return
            }
            #expect(spooled.count == 1)
            try setup.daemon.start()
            #expect(try setup.records(count: 1).count == 1)
        }

        /// The user kills, as fast as they can, every process of theirs the login starts: the
        /// module starts none, and every failure is recorded.
        @Test func recordsWhenTheUserKillsWhatTheyMay() throws {
            let setup = try NativePAMModuleTests.Setup()
            defer { setup.pam.remove() }
            let tester = try SetuidTester()
            let uid = try requireTestAccount()
            let attempts = 5
            for _ in 0..<attempts {
                let account = try #require(getpwuid(uid)).pointee
                let command = [
                    "/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(account.pw_gid)", "--clear-groups", tester.path,
                ]
                let failed = try setup.pam.run(
                    command + setup.pam.arguments(["authenticate"]), password: PAMService.wrong
                ) { tester in killProcesses(ofRealUID: uid, except: tester) }
                #expect(failed.status != 0 && failed.status != -1)
            }
            #expect(try setup.records(count: attempts).count == attempts)
        }
    }
}

/// Sends SIGKILL to every process whose real uid is `uid` (what that user may signal), but
/// `spared`.
private func killProcesses(ofRealUID uid: uid_t, except spared: pid_t) {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(name), pid != spared,
            let status = try? String(contentsOfFile: "/proc/\(name)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
            line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first == Substring(String(uid))
        else { continue }
        kill(pid, SIGKILL)
    }
}

/// Whether root may raise a hard limit here: CAP_SYS_RESOURCE is in the capability bounding set.
private var rootMayRaiseLimits: Bool {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
        let mask = UInt64(line.dropFirst("CapBnd:".count).trimmingCharacters(in: .whitespaces), radix: 16)
    else { return false }
    return mask & (1 << 24) != 0  // CAP_SYS_RESOURCE (linux/capability.h)
}
