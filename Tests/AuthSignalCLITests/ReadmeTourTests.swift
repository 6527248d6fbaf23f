import Foundation
import Glibc
import SpawnSupport
import TestSupport
import Testing

extension SpawnedTests {
    /// The README's two-minute tour, each command as printed, against the daemon `scripts/start`
    /// configures (`scripts/dev-config`): the README cannot drift from the product.
    @Suite struct ReadmeTourTests {
        /// The checkout this test was built from.
        static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path

        /// A `$ ` line of the tour and the output lines printed under it.
        struct Step {
            var command: String
            var expected: [String] = []
        }

        /// The steps of the `console` block under "A two-minute tour".
        static func tour() throws -> [Step] {
            let readme = try String(contentsOfFile: checkout + "/README.md", encoding: .utf8)
            guard let heading = readme.range(of: "## A two-minute tour"),
                let open = readme.range(of: "```console\n", range: heading.upperBound..<readme.endIndex),
                let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex)
            else { throw DaemonTestError("README.md has no console block under \"A two-minute tour\"") }
            var steps: [Step] = []
            for line in readme[open.upperBound..<close.lowerBound].split(separator: "\n") {
                if line.hasPrefix("$ ") {
                    steps.append(Step(command: String(line.dropFirst(2))))
                } else if !steps.isEmpty {
                    steps[steps.count - 1].expected.append(String(line))
                }
            }
            return steps
        }

        /// A printed output line as a regular expression: a trailing `# comment` is not output,
        /// local times match any, a word abbreviated with `…` (`4070dd2e…`) any word, and
        /// everything else matches itself.
        static func pattern(_ line: String) -> String {
            var text = line
            if let comment = text.range(of: #"\s{2,}# .*$"#, options: .regularExpression) {
                text.removeSubrange(comment)
            }
            let (time, word) = ("<TIME>", "<WORD>")
            text = text.replacingOccurrences(
                of: #"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"#, with: time, options: .regularExpression)
            text = text.replacingOccurrences(of: #"[^\s;]*…"#, with: word, options: .regularExpression)
            var regex = NSRegularExpression.escapedPattern(for: text)
            regex = regex.replacingOccurrences(of: time, with: #"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"#)
            regex = regex.replacingOccurrences(of: word, with: #"[^\s;]+"#)
            return "^" + regex + "$"
        }

        /// Whether `output` is, line by line, what `expected` shows.
        static func matches(_ output: String, _ expected: [String]) -> Bool {
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            guard lines.count == expected.count else { return false }
            return zip(lines, expected).allSatisfy { line, shown in
                line.range(of: pattern(shown), options: .regularExpression) != nil
            }
        }

        @Test func theTourRunsAsPrinted() throws {
            guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
                try Test.cancel("no journald socket; scripts/test starts a private journald")
            }
            let daemon = try DaemonUnderTest(start: false)
            try FileManager.default.removeItem(atPath: daemon.configPath)
            let configured = try runCommand(Self.checkout + "/scripts/dev-config", [daemon.directory.path])
            #expect(configured.status == 0, "\(configured.output)")
            try daemon.start()
            // The tour's working directory: .dev is the daemon's, .build/debug the programs these
            // tests were built with.
            let workspace = try TemporaryDirectory()
            #expect(symlink(daemon.directory.path, workspace.path + "/.dev") == 0)
            try FileManager.default.createDirectory(
                atPath: workspace.path + "/.build", withIntermediateDirectories: true)
            #expect(symlink(buildDirectory, workspace.path + "/.build/debug") == 0)
            let steps = try Self.tour()
            #expect(steps.count >= 8)
            var exports: [String] = []
            for step in steps {
                if step.command.hasPrefix("export ") {
                    exports.append(step.command)
                    continue
                }
                // follow runs until Ctrl-C: it gets one after a second.
                let command =
                    step.command.contains("authsignal follow")
                    ? "timeout --preserve-status -s INT 1 " + step.command : step.command
                let script = (["cd '\(workspace.path)'", "set -o pipefail"] + exports + [command]).joined(
                    separator: "\n")
                // The anchor verify compares with is written within AnchorIntervalSec: verify is
                // retried for a while (it only reads).
                var result = try runCommand("/bin/bash", ["-c", script])
                let deadline = Date().addingTimeInterval(step.command.contains("authsignal verify") ? 20 : 0)
                while !(result.status == 0 && Self.matches(result.output, step.expected)), Date() < deadline {
                    usleep(250_000)
                    result = try runCommand("/bin/bash", ["-c", script])
                }
                #expect(result.status == 0, "\(step.command)\n\(result.output)")
                if !step.expected.isEmpty {
                    #expect(
                        Self.matches(result.output, step.expected),
                        "\(step.command) printed:\n\(result.output)\nthe README shows:\n\(step.expected.joined(separator: "\n"))"
                    )
                }
            }
        }
    }
}
