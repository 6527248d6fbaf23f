import AuthSignalCore
import Foundation
import TestSupport
import Testing

@testable import AuthSignalAlerts

/// The sinks against the real programs behind them: Debian's exim4 through /usr/sbin/sendmail,
/// delivering to a local mailbox the test reads, and Debian's apprise posting to a local HTTP
/// endpoint. scripts/test installs both (scripts/deps.sh).
@Suite("Alerts: sinks through the real MTA and apprise", .serialized)
struct SinkTests {
    static let origin = SectionOrigin(file: "test", line: 1)

    /// A login alert whose account tries to add a mail header.
    static func message(rule: String, sink: String) -> AlertMessage {
        var event = AlertEvent(kind: .test, condition: nil, detail: "", at: Date())
        event.kind = .record
        event.detail = nil
        event.signal = "login"
        event.user = "eve\r\nBcc: victim@example.org"
        event.source = "203.0.113.7"
        event.service = "sshd"
        event.seq = 42
        event.verdicts = [.init(code: "success-after-failures", reason: "login of eve after 6 failures")]
        return AlertMessage(rule: rule, sink: sink, host: "web1", events: [event], digest: false)
    }

    /// The local account whose mailbox receives the test mail (created once, with a home, as
    /// exim's local delivery wants).
    static func mailbox() throws -> String {
        let account = "alertbox"
        if getpwnam(account) == nil {
            let created = try runCommand(
                "/usr/sbin/useradd",
                ["-m", "-d", "/var/lib/authsignal-test-mailbox", "-s", "/usr/sbin/nologin", account])
            #expect(created.status == 0, "\(created.output)")
        }
        return "/var/mail/\(account)"
    }

    @Test("mail: sendmail (exim4) delivers a mail with a safe subject, Auto-Submitted, the explanation")
    func mailThroughExim() async throws {
        let mailbox = try Self.mailbox()
        let rule = "mail-\(UUID().uuidString.prefix(8))"
        var sink = AlertSink(name: "ops-mail", origin: Self.origin)
        sink.type = .mail
        sink.to = ["alertbox"]
        sink.from = "authsignal@example.org"
        let answer = try await SinkDriver(sink: sink).deliver(Self.message(rule: rule, sink: "ops-mail"))
        #expect(answer.isEmpty, "\(answer)")
        var mail: String?
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: mailbox, encoding: .utf8), let start = text.range(of: "(\(rule))")
            {
                let from =
                    text[..<start.lowerBound].range(of: "\nFrom ", options: .backwards)?.lowerBound ?? text.startIndex
                mail = String(text[from...].prefix(4096))
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let delivered = try #require(mail, "no mail for \(rule) in \(mailbox)")
        let headers = delivered.drop { $0 == "\n" }.components(separatedBy: "\n\n").first ?? ""
        // The line break the account name carried is shown escaped: no Bcc header was added.
        #expect(
            headers.contains(
                "Subject: [authsignal] web1: eve\\x0d\\x0aBcc: victim@example.org logged in from 203.0.113.7 via sshd (\(rule))"
            ))
        #expect(!headers.contains("\nBcc:") && !headers.lowercased().contains("victim@example.org>"))
        #expect(headers.contains("Auto-Submitted: auto-generated") && headers.contains("X-Authsignal-Rule: \(rule)"))
        #expect(delivered.contains("Verdict success-after-failures: login of eve after 6 failures"))
        #expect(delivered.contains("Record 42 of the audit log"))
    }

    @Test("mail: an MTA that refuses is a failed delivery with its words")
    func mailRefused() async throws {
        var sink = AlertSink(name: "ops-mail", origin: Self.origin)
        sink.type = .mail
        sink.to = ["alertbox"]
        sink.command = ["/bin/sh", "-c", "echo 'sendmail: cannot open spool' >&2; exit 75", "sendmail"]
        await #expect(throws: DeliveryFailure.self) {
            try await SinkDriver(sink: sink).deliver(Self.message(rule: "r", sink: "ops-mail"))
        }
        do {
            _ = try await SinkDriver(sink: sink).deliver(Self.message(rule: "r", sink: "ops-mail"))
        } catch {
            #expect(error.description == "/bin/sh exited with status 75: sendmail: cannot open spool")
        }
    }

    @Test("apprise: the URLs from a credential, title and body to a local JSON endpoint")
    func appriseToLocalEndpoint() async throws {
        let directory = try TemporaryDirectory()
        let posts = directory.file("posts")
        try FileManager.default.createDirectory(atPath: posts, withIntermediateDirectories: true)
        let receiver = try HTTPReceiver(directory: directory, posts: posts)
        defer { receiver.stop() }
        let credentials = directory.file("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try "json://127.0.0.1:\(receiver.port)/alerts\n".write(
            toFile: credentials + "/apprise-urls", atomically: true, encoding: .utf8)
        var sink = AlertSink(name: "phone", origin: Self.origin)
        sink.type = .apprise
        sink.configCredential = "apprise-urls"
        let driver = SinkDriver(sink: sink, credentialsDirectory: credentials)
        _ = try await driver.deliver(Self.message(rule: "root-login", sink: "phone"))
        let names = try FileManager.default.contentsOfDirectory(atPath: posts)
        #expect(names.count == 1)
        let body = try Data(contentsOf: URL(fileURLWithPath: posts + "/" + (names.first ?? "")))
        let post = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect((post["title"] as? String)?.hasSuffix("logged in from 203.0.113.7 via sshd (root-login)") == true)
        #expect((post["message"] as? String)?.contains("Rule root-login fired on web1.") == true)
        #expect(post["type"] as? String == "warning")

        // A credential that is missing is named, with how to give it.
        sink.configCredential = "absent"
        do {
            _ = try await SinkDriver(sink: sink, credentialsDirectory: credentials)
                .deliver(Self.message(rule: "root-login", sink: "phone"))
            Issue.record("delivered without its credential")
        } catch {
            #expect(error.description.contains("credential absent is not readable"))
            #expect(error.description.contains("LoadCredential=absent:/etc/credstore/absent"))
        }
    }
}

struct ReceiverDidNotStart: Error {}

/// A local HTTP endpoint (Python's http.server) that keeps each POST body in a file.
final class HTTPReceiver: Sendable {
    let port: Int
    private let process: SpawnedProcess

    init(directory: TemporaryDirectory, posts: String) throws {
        let script = directory.file("receiver.py")
        let portFile = directory.file("port")
        try """
        import http.server, os, sys
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                name = os.path.join(sys.argv[1], 'post-%d' % len(os.listdir(sys.argv[1])))
                with open(name + '.tmp', 'wb') as f: f.write(body)
                os.rename(name + '.tmp', name)
                self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
            def log_message(self, *args): pass
        server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        with open(sys.argv[2] + '.tmp', 'w') as f: f.write(str(server.server_address[1]))
        os.rename(sys.argv[2] + '.tmp', sys.argv[2])
        server.serve_forever()
        """.write(toFile: script, atomically: true, encoding: .utf8)
        process = try SpawnedProcess(["/usr/bin/python3", script, posts, portFile])
        var port: Int?
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let number = Int(text) {
                port = number
                break
            }
            usleep(20_000)
        }
        guard let port else { throw ReceiverDidNotStart() }
        self.port = port
    }

    /// Kills it (SIGKILL: a child spawned from a thread that blocks SIGTERM inherits the block).
    func stop() {
        process.signal(SIGKILL)
        process.wait()
    }
}
