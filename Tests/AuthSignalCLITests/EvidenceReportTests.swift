import AuthSignalProtocol
import Foundation
import SpawnSupport
import TestSupport
import Testing

/// The headless browser Debian packages (scripts/test installs it).
private let chromium = "/usr/bin/chromium-headless-shell"

/// Renders `page` in headless Chromium: its screenshot at `screenshot`, and what the browser
/// reported: console messages (`:CONSOLE` lines of its log) and every URL its network log saw.
private func render(_ page: String, screenshot: String, in directory: TemporaryDirectory) throws -> (
    console: [String], urls: Set<String>
) {
    guard FileManager.default.isExecutableFile(atPath: chromium) else {
        throw DaemonTestError("chromium-headless-shell is not installed (scripts/test installs it)")
    }
    let netLog = directory.file("net-\(UUID().uuidString).json")
    let browser = try runCommand(
        "/usr/bin/timeout",
        [
            "120", chromium, "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,2600",
            "--enable-logging=stderr", "--v=0", "--log-net-log=\(netLog)", "--screenshot=\(screenshot)",
            "file://\(page)",
        ])
    #expect(browser.status == 0, "\(browser.output)")
    let console = browser.output.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
    let log = try #require(FileManager.default.contents(atPath: netLog))
    let events = try #require(
        (try JSONSerialization.jsonObject(with: log) as? [String: Any])?["events"] as? [[String: Any]])
    let urls = Set(events.compactMap { ($0["params"] as? [String: Any])?["url"] as? String })
    return (console, urls)
}

extension SpawnedTests {
    /// `authsignal evidence`: the page an auditor gets, rendered by a real browser (headless
    /// Chromium from Debian) with no console error and no network request, and what it says
    /// checked against the log it describes.
    @Suite struct EvidenceReportTests {
        @Test func theReportRendersOfflineAndSaysWhatTheLogHolds() throws {
            let daemon = try DaemonUnderTest(extra: "[Store]\nLifecycleRecords=yes\nMaxAgeDays=400\n")
            let socket = daemon.socketPath
            // Three days of activity by the events' own times (a minute into each UTC day, so that
            // the test's hour does not move one to another day); a hostile source among them.
            let today = (Date().timeIntervalSince1970 / 86400).rounded(.down) * 86400
            for day in 0..<3 {
                let time = RFC3339.format(Date(timeIntervalSince1970: today - Double(day) * 86400 + 60))
                for index in 0...day {
                    #expect(
                        try cli(
                            [
                                "send", "login-failed", "--user", "root", "--remote-addr", "203.0.113.\(index)",
                                "--time", time,
                            ],
                            socket: socket
                        ).status == 0)
                }
                #expect(try cli(["send", "login", "--user", "alice", "--time", time], socket: socket).status == 0)
            }
            #expect(
                try cli(
                    ["send", "login-failed", "--user", "root", "--remote-addr", "<script>alert(1)</script>"],
                    socket: socket
                )
                .status == 0)
            #expect(
                try cli(["send", "login", "--user", "daemon", "--remote-addr", "192.0.2.5"], socket: socket).status == 0
            )
            try waitFor("the records") {
                try cli(["query", "--format", "jsonl"], socket: socket).out.split(separator: "\n").count == 12
            }

            let page = daemon.directory.file("evidence.html")
            let made = try cli(
                ["evidence", "--since", "-30d", "--output", page, "--config", daemon.configPath] + testJournalWriter,
                socket: socket)
            #expect(made.status == 0, "\(made)")
            let html = try String(contentsOfFile: page, encoding: .utf8)
            #expect(html.contains("4 logins · 7 failed logins · 0 logouts · chain intact"), "summary")
            #expect(html.contains(">Verified<") && html.contains("kept for</th><td>400 days"))
            #expect(
                html.contains("PCI DSS 10.2.1.4") && html.contains("NIST AC-7") && html.contains("<span>10.3.4</span>"))
            #expect(html.contains("<th>system-account-login</th><td>1</td>"))
            #expect(html.contains("authsignald started"))
            // Nothing from a record is markup: the name shows as text.
            #expect(!html.contains("<script") && html.contains("&lt;script&gt;"))
            #expect(!html.contains("http://") && !html.contains("https://"), "no external resource")

            let shot = daemon.directory.file("evidence.png")
            let rendered = try render(page, screenshot: shot, in: daemon.directory)
            #expect(rendered.console.isEmpty, "console: \(rendered.console)")
            #expect(rendered.urls.allSatisfy { $0.hasPrefix("file://") || $0.hasPrefix("data:") }, "\(rendered.urls)")
            let image = try #require(FileManager.default.contents(atPath: shot))
            #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]) && image.count > 20_000)

            let json = try object(
                try cli(["evidence", "--since", "-30d", "--format", "json", "--no-journal"], socket: socket).out)
            let days = try #require(json["days"] as? [[String: Any]])
            #expect(days.count == 30 || days.count == 31)
            #expect(days.map { $0["failures"] as? Int ?? 0 }.suffix(3) == [3, 2, 2], "\(days.suffix(3))")
            #expect((json["chain"] as? [String: Any])?["intact"] as? Bool == true)
        }

        /// The checks themselves: a page with a script error and an image from the network is caught.
        @Test func theBrowserCheckCatchesConsoleErrorsAndRequests() throws {
            let directory = try TemporaryDirectory()
            let page = directory.file("bad.html")
            try #"<html><body><img src="http://192.0.2.1/x.png"><script>console.error("broken")</script></body></html>"#
                .write(toFile: page, atomically: true, encoding: .utf8)
            let rendered = try render(page, screenshot: directory.file("bad.png"), in: directory)
            #expect(rendered.console.contains { $0.contains("broken") })
            #expect(rendered.urls.contains("http://192.0.2.1/x.png"))
        }
    }
}
