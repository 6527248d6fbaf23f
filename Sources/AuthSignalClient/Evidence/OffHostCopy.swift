import Foundation

/// Whether this host's journal, with the audit entries and chain anchors, is copied off the host
/// (docs/fleet.md): systemd-journal-upload's `URL=` and whether its service runs.
package enum OffHostCopy {
    /// `systemd-journal-upload to https://… (active)`, or `nil` when no URL is configured.
    package static func describe(
        configuration: String = "/etc/systemd/journal-upload.conf", systemctl: String = "/usr/bin/systemctl"
    ) -> String? {
        let dropIns =
            (try? FileManager.default.contentsOfDirectory(atPath: configuration + ".d"))?.sorted()
            .map { configuration + ".d/" + $0 } ?? []
        var url: String?
        for file in [configuration] + dropIns {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("URL=") {
                url = String(line.dropFirst(4)).trimmingCharacters(in: .whitespaces)
            }
        }
        guard let url, !url.isEmpty else { return nil }
        return "systemd-journal-upload to \(url) (\(state(systemctl: systemctl)))"
    }

    private static func state(systemctl: String) -> String {
        guard FileManager.default.fileExists(atPath: "/run/systemd/system"),
            FileManager.default.isExecutableFile(atPath: systemctl)
        else { return "state unknown: systemd is not running" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: systemctl)
        process.arguments = ["is-active", "systemd-journal-upload.service"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "state unknown" }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
