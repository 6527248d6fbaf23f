import Foundation
import SpawnSupport
import TestSupport
import Testing

/// The checkout's root.
private let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs Tests/Standards/check.py (`ocsf` or `ecs`) on `file` in its Python environment, made by
/// scripts/standards-venv from PyPI the first time.
func standardsCheck(_ standard: String, _ file: String) throws -> (status: Int32, output: String) {
    let venv = try runCommand(checkout + "/scripts/standards-venv", [])
    guard venv.status == 0 else { throw DaemonTestError("scripts/standards-venv failed: \(venv.output)") }
    let python = String(venv.output.split(separator: "\n").last ?? "")
    return try runCommand(python, [checkout + "/Tests/Standards/check.py", standard, file])
}

/// Exports every record of the daemon at `socket` in OCSF and in ECS into `directory`, and
/// expects each to validate against its schema (``standardsCheck(_:_:)``), `count` events each.
func expectValidExports(socket: String, directory: TemporaryDirectory, count: Int) throws {
    for standard in ["ocsf", "ecs"] {
        let exported = try cli(["query", "--format", standard], socket: socket).out
        try exported.write(toFile: directory.file(standard + ".jsonl"), atomically: true, encoding: .utf8)
        let check = try standardsCheck(standard, directory.file(standard + ".jsonl"))
        #expect(check.status == 0 && check.output.contains("\(count) events valid"), "\(standard): \(check.output)")
    }
}

extension SpawnedTests {
    /// `query --format ocsf|ecs`: every kind of record — a failure by name and by keyed hash, a
    /// PAM session through the native module (service, tty, pairing key), a login with a verdict,
    /// a source given by name — validated against the real schemas: OCSF 1.8.0's JSON Schema and
    /// ECS 8.17.0's field definitions.
    @Suite struct StandardExportTests {
        @Test func everySignalKindValidatesAgainstOCSFAndECS() throws {
            let daemon = try DaemonUnderTest()
            let module = "\(try nativeModule()) socket=\(daemon.socketPath) spool=\(daemon.spoolPath)"
            let pam = try PAMService(auth: "[default=ignore] \(module)", session: "optional \(module)")
            defer { pam.remove() }
            let socket = daemon.socketPath
            #expect(try pam.run(PAMService.wrong, ["authenticate"]).status != 0)
            let session = try pam.run(
                ["/usr/bin/pamtester"] + pam.arguments(["authenticate", "open_session", "close_session"]),
                password: PAMService.password)
            #expect(session.status == 0, "\(session.output)")
            for arguments in [
                ["send", "login-failed", "--user", "no-such-account-\(getpid())", "--remote-addr", "attacker.example"],
                ["send", "login", "--user", "daemon", "--sender", "sshd", "--remote-addr", "2001:db8::7"],
                ["send", "logout", "--user", "daemon", "--sender", "sshd", "--remote-addr", "2001:db8::7"],
            ] {
                #expect(try cli(arguments, socket: socket).status == 0)
            }
            try waitFor("six records") {
                try cli(["query", "--format", "jsonl"], socket: socket).out.split(separator: "\n").count == 6
            }

            let ocsf = try cli(["query", "--format", "ocsf"], socket: socket)
            let events = try ocsf.out.split(separator: "\n").map { try object(String($0)) }
            #expect(events.count == 6, "\(ocsf)")
            let file = daemon.directory.file("ocsf.jsonl")
            try ocsf.out.write(toFile: file, atomically: true, encoding: .utf8)
            let ocsfCheck = try standardsCheck("ocsf", file)
            #expect(ocsfCheck.status == 0 && ocsfCheck.output.contains("6 events valid"), "\(ocsfCheck.output)")
            // Logon failed, Logon, Logoff; each with the PAM session's key and the chain position.
            #expect(events.map { $0["activity_id"] as? Int } == [1, 1, 2, 1, 1, 2])
            #expect(events.map { $0["status_id"] as? Int } == [2, 1, 1, 2, 1, 1])
            let pamLogin = events[1]
            #expect((pamLogin["service"] as? [String: Any])?["name"] as? String == pam.service)
            #expect((pamLogin["src_endpoint"] as? [String: Any])?["ip"] as? String == "203.0.113.7")
            let pamSession = try #require(pamLogin["session"] as? [String: Any])
            #expect(pamSession["terminal"] as? String == "pts/9" && (pamSession["uid"] as? String)?.isEmpty == false)
            let chain = try #require((pamLogin["unmapped"] as? [String: Any])?["authsignal"] as? [String: Any])
            #expect(chain["seq"] as? Int == 2 && (chain["hash"] as? String)?.count == 64)
            #expect((events[3]["user"] as? [String: Any])?["name"] as? String != "no-such-account-\(getpid())")
            #expect((events[3]["src_endpoint"] as? [String: Any])?["hostname"] as? String == "attacker.example")
            #expect(events[4]["severity_id"] as? Int == 3 && (events[4]["risk_details"] as? String)?.isEmpty == false)

            let ecs = try cli(["query", "--format", "ecs"], socket: socket)
            let documents = try ecs.out.split(separator: "\n").map { try object(String($0)) }
            let ecsFile = daemon.directory.file("ecs.jsonl")
            try ecs.out.write(toFile: ecsFile, atomically: true, encoding: .utf8)
            let ecsCheck = try standardsCheck("ecs", ecsFile)
            #expect(ecsCheck.status == 0 && ecsCheck.output.contains("6 events valid"), "\(ecsCheck.output)")
            let outcomes = documents.map { ($0["event"] as? [String: Any])?["outcome"] as? String }
            #expect(outcomes == ["failure", "success", "success", "failure", "success", "success"])
            // What Elastic's SSH brute-force rules match: ssh_login failures with a source.ip.
            let sshLogin = try #require(documents[4]["event"] as? [String: Any])
            #expect(sshLogin["action"] as? String == "ssh_login" && documents[4]["tags"] as? [String] != nil)
            #expect((documents[4]["source"] as? [String: Any])?["ip"] as? String == "2001:db8::7")
            #expect((documents[0]["related"] as? [String: Any])?["user"] as? [String] == [PAMService.account])
            // The password never reaches either form.
            #expect(!ocsf.out.contains(PAMService.wrong) && !ecs.out.contains(PAMService.wrong))
        }

        /// The checker itself: an event missing OCSF's required `user`, with an attribute OCSF does
        /// not define, and an ECS document with a made-up field and an event type its category
        /// does not expect, are each refused with the reason.
        @Test func theCheckerRefusesWhatTheStandardsDoNot() throws {
            let directory = try TemporaryDirectory()
            let event = #"""
                {"activity_id":1,"category_uid":3,"class_uid":3002,"metadata":{"product":{"name":"x"},"version":"1.8.0"},\#
                "severity_id":1,"time":1,"type_uid":300201,"login_shell":"/bin/sh"}
                """#
            try (event + "\n").write(toFile: directory.file("bad.ocsf"), atomically: true, encoding: .utf8)
            let ocsf = try standardsCheck("ocsf", directory.file("bad.ocsf"))
            #expect(ocsf.status == 1, "\(ocsf.output)")
            #expect(ocsf.output.contains("'user' is a required property"), "\(ocsf.output)")
            #expect(ocsf.output.contains("'login_shell' was unexpected"), "\(ocsf.output)")

            let document = #"""
                {"@timestamp":"2026-12-07T00:00:00Z","ecs":{"version":"8.17.0"},"user":{"nickname":"al"},\#
                "event":{"category":["authentication"],"type":["denied"],"outcome":"maybe"}}
                """#
            try (document + "\n").write(toFile: directory.file("bad.ecs"), atomically: true, encoding: .utf8)
            let ecs = try standardsCheck("ecs", directory.file("bad.ecs"))
            #expect(ecs.status == 1, "\(ecs.output)")
            #expect(ecs.output.contains("user.nickname: not an ECS 8.17.0 field"), "\(ecs.output)")
            #expect(ecs.output.contains("'denied' is not expected with event.category 'authentication'"))
            #expect(ecs.output.contains("event.outcome: 'maybe' is not one of ECS's allowed values"))
        }
    }
}
