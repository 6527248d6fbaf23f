import Foundation
import TestSupport
import Testing

@Suite("Unit files")
struct UnitFileTests {
    static let systemdDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("systemd").path

    @Test func systemdAnalyzeVerifyAcceptsTheUnits() async throws {
        let directory = try TemporaryDirectory()
        // The daemon binary is not installed here: point ExecStart= at a binary that exists.
        let service = try String(contentsOfFile: Self.systemdDirectory + "/authsignald.service", encoding: .utf8)
            .replacingOccurrences(of: "ExecStart=/usr/local/sbin/authsignald", with: "ExecStart=\(probePath) serve")
        try service.write(toFile: directory.path + "/authsignald.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: Self.systemdDirectory + "/authsignald.socket", toPath: directory.path + "/authsignald.socket")
        let result = try await run(
            "/usr/bin/systemd-analyze",
            ["verify", directory.path + "/authsignald.socket", directory.path + "/authsignald.service"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.isEmpty, "\(result.output)")
    }

    @Test(
        "systemd-analyze verify accepts the timers, their services, the alert and the export service",
        arguments: [
            ["authsignal-metrics.timer", "authsignal-metrics.service"],
            ["authsignal-verify.timer", "authsignal-verify.service"], ["authsignal-alerts.service"],
            ["authsignal-export.service"],
        ])
    func systemdAnalyzeVerifyAcceptsTheOtherUnits(units: [String]) async throws {
        let directory = try TemporaryDirectory()
        for unit in units {
            // The program is not installed here: point ExecStart= at a binary that exists.
            let text = try String(contentsOfFile: Self.systemdDirectory + "/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "ExecStart=/usr/local/bin/authsignal ", with: "ExecStart=\(probePath) ")
            try text.write(toFile: directory.path + "/" + unit, atomically: true, encoding: .utf8)
        }
        let result = try await run("/usr/bin/systemd-analyze", ["verify"] + units.map { directory.path + "/" + $0 })
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.isEmpty, "\(result.output)")
    }

    @Test("the alert service keeps sendmail's setuid: nothing in its unit sets no_new_privs")
    func alertServiceMayRunSendmail() throws {
        let unit = try String(contentsOfFile: Self.systemdDirectory + "/authsignal-alerts.service", encoding: .utf8)
        let directives = unit.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
            $0.split(separator: "=", maxSplits: 1).first.map(String.init)
        }
        // systemd.exec(5): each of these implies NoNewPrivileges= for a service that is not root.
        let implying: Set = [
            "NoNewPrivileges", "SystemCallFilter", "SystemCallArchitectures", "RestrictAddressFamilies",
            "RestrictNamespaces", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectClock", "ProtectHostname", "MemoryDenyWriteExecute", "RestrictRealtime", "RestrictSUIDSGID",
            "LockPersonality",
            "DynamicUser", "CapabilityBoundingSet",
        ]
        #expect(implying.isDisjoint(with: directives), "\(implying.intersection(directives).sorted())")
        #expect(directives.contains("User") && unit.contains("User=authsignald"))
    }

    @Test(
        "the daemon's and the export service's sandboxes score at most 2",
        arguments: ["authsignald.service", "authsignal-export.service"])
    func theServiceSandboxScoresAtMostTwo(unit: String) async throws {
        let result = try await run(
            "/usr/bin/systemd-analyze",
            ["security", "--offline=true", "--threshold=20", Self.systemdDirectory + "/" + unit])
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        #expect((score ?? 99) <= 2.0, "\(line)")
    }

    @Test func theServiceKeepsPeerIdentityAndAllowsOnlyUnixSockets() throws {
        let service = try String(contentsOfFile: Self.systemdDirectory + "/authsignald.service", encoding: .utf8)
        let directives = service.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(!directives.contains { $0.hasPrefix("PrivateUsers=") })
        #expect(directives.contains("Type=notify"))
        #expect(directives.contains("RestrictAddressFamilies=AF_UNIX"))
        #expect(directives.contains("StateDirectoryMode=0700"))
        #expect(directives.contains("WatchdogSignal=SIGKILL"))
    }
}
