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
        let received = try HTTPReceiver.posts(in: posts)
        #expect(received.count == 1)
        let body = try #require(received.first?["body"] as? String)
        let post = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
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

    @Test("a thousand deliveries leave no descriptor behind (swift-subprocess #179: EMFILE after many runs)")
    func noDescriptorLeaks() async throws {
        func open() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }
        var sink = AlertSink(name: "quick", origin: Self.origin)
        sink.command = ["/bin/cat"]
        let driver = SinkDriver(sink: sink)
        let message = Self.message(rule: "r", sink: "quick")
        _ = try await driver.deliver(message)
        let before = try open()
        for _ in 0..<1000 { _ = try await driver.deliver(message) }
        let after = try open()
        #expect(after <= before + 2, "\(before) descriptors before, \(after) after")
    }

    /// A test CA and a certificate it signed for 127.0.0.1, made with openssl.
    static func certificates(in directory: TemporaryDirectory) throws -> (ca: String, chain: String, key: String) {
        let (ca, key, chain) = (directory.file("ca.pem"), directory.file("server.key"), directory.file("server.pem"))
        let script = """
            set -e
            cd '\(directory.path)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=authsignal-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\n' >san.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
            """
        let made = try runCommand("/bin/sh", ["-c", script])
        #expect(made.status == 0, "\(made.output)")
        return (ca, chain, key)
    }

    /// A local HTTPS receiver whose certificate a test CA signed: the receiver, the directory of
    /// the POSTs it kept, and the CA's certificate.
    static func httpsReceiver(in directory: TemporaryDirectory) throws -> (HTTPReceiver, String, String) {
        let posts = directory.file("posts")
        try FileManager.default.createDirectory(atPath: posts, withIntermediateDirectories: true)
        let certificates = try Self.certificates(in: directory)
        let receiver = try HTTPReceiver(
            directory: directory, posts: posts, certificate: (certificates.chain, certificates.key))
        return (receiver, posts, certificates.ca)
    }

    @Test("webhook: HTTPS verified against its CA, the address and token from credentials, a template")
    func webhook() async throws {
        let directory = try TemporaryDirectory()
        let (receiver, posts, ca) = try Self.httpsReceiver(in: directory)
        defer { receiver.stop() }
        let credentials = directory.file("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        let secretPath = "/hooks/T0001/s3cr3t-path"
        try "https://127.0.0.1:\(receiver.port)\(secretPath)\n".write(
            toFile: credentials + "/hook-url", atomically: true, encoding: .utf8)
        try "Bearer tok-123\n".write(toFile: credentials + "/hook-token", atomically: true, encoding: .utf8)
        var sink = AlertSink(name: "hook", origin: Self.origin)
        sink.type = .webhook
        sink.urlCredential = "hook-url"
        sink.authorizationCredential = "hook-token"
        sink.caCertificate = ca
        let driver = SinkDriver(sink: sink, credentialsDirectory: credentials)
        let answer = try await driver.deliver(Self.message(rule: "root-login", sink: "hook"))
        #expect(answer == "HTTP 200: ok")
        var received = try HTTPReceiver.posts(in: posts)
        #expect(received.count == 1 && received.first?["path"] as? String == secretPath)
        #expect(received.first?["authorization"] as? String == "Bearer tok-123")
        let body = try #require(received.first?["body"] as? String)
        let message = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(message["rule"] as? String == "root-login" && message["count"] as? Int == 1)

        // A template: each value escaped for a JSON string (the account's CR LF included).
        sink.template = #"{"text": "{{subject}}", "rule": "{{rule}}", "n": {{count}}}"#
        _ = try await SinkDriver(sink: sink, credentialsDirectory: credentials)
            .deliver(Self.message(rule: "root-login", sink: "hook"))
        received = try HTTPReceiver.posts(in: posts)
        let templated = try #require(received.last?["body"] as? String)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(templated.utf8)) as? [String: Any])
        #expect(object["rule"] as? String == "root-login" && object["n"] as? Int == 1)
        #expect((object["text"] as? String)?.hasPrefix("[authsignal] web1: eve\\x0d\\x0aBcc:") == true)
    }

    @Test("webhook: the address and the token reach curl on its standard input, never its command line")
    func webhookSecretsStayOffTheCommandLine() async throws {
        let directory = try TemporaryDirectory()
        let (arguments, input) = (directory.file("arguments"), directory.file("input"))
        // A curl that keeps what it was given, and answers as curl does with --write-out.
        let fake = directory.file("curl")
        try "#!/bin/sh\nprintf '%s\\n' \"$@\" >\(arguments)\ncat >\(input)\nprintf 'ok\\n204'\n".write(
            toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let credentials = directory.file("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try "https://hooks.example.org/T0001/s3cr3t-path\n".write(
            toFile: credentials + "/hook-url", atomically: true, encoding: .utf8)
        try "Bearer tok-\"123\"\n".write(toFile: credentials + "/hook-token", atomically: true, encoding: .utf8)
        var sink = AlertSink(name: "hook", origin: Self.origin)
        sink.type = .webhook
        sink.command = [fake]
        sink.urlCredential = "hook-url"
        sink.authorizationCredential = "hook-token"
        let answer = try await SinkDriver(sink: sink, credentialsDirectory: credentials)
            .deliver(Self.message(rule: "r", sink: "hook"))
        #expect(answer == "HTTP 204: ok")
        let argv = try String(contentsOfFile: arguments, encoding: .utf8)
        #expect(!argv.contains("s3cr3t") && !argv.contains("tok-") && argv.contains("--config\n-\n"), "\(argv)")
        let config = try String(contentsOfFile: input, encoding: .utf8)
        #expect(config.contains(#"url = "https://hooks.example.org/T0001/s3cr3t-path""#), "\(config)")
        #expect(config.contains(#"header = "Authorization: Bearer tok-\"123\"""#), "\(config)")
    }

    @Test("webhook: an unverified certificate, a redirect and a 500 are failures that name no address")
    func webhookRefusals() async throws {
        let directory = try TemporaryDirectory()
        let (receiver, posts, ca) = try Self.httpsReceiver(in: directory)
        defer { receiver.stop() }
        var sink = AlertSink(name: "hook", origin: Self.origin)
        sink.type = .webhook
        func failure(_ path: String, ca: String?) async -> String {
            sink.url = "https://127.0.0.1:\(receiver.port)\(path)"
            sink.caCertificate = ca
            do {
                _ = try await SinkDriver(sink: sink).deliver(Self.message(rule: "r", sink: "hook"))
                return "delivered"
            } catch {
                return error.description
            }
        }
        // The system's trust store does not know the test CA: the handshake fails, nothing is sent.
        let untrusted = await failure("/secret-a", ca: nil)
        #expect(
            untrusted == "127.0.0.1: TLS handshake failed: the server's certificate did not verify "
                + "(its CA is not trusted here: CACertificate= names one)", "\(untrusted)")
        #expect(try HTTPReceiver.posts(in: posts).isEmpty)
        let moved = await failure("/moved", ca: ca)
        #expect(moved == "127.0.0.1 answered HTTP 302", "\(moved)")
        let failed = await failure("/fail", ca: ca)
        #expect(failed == "127.0.0.1 answered HTTP 500: internal trouble", "\(failed)")
    }
}

struct ReceiverDidNotStart: Error {}

/// A local HTTP(S) endpoint (Python's http.server, with ssl for HTTPS) that keeps each POST as a
/// JSON file: its path, its `Authorization` header and its body. `/moved` answers 302 and `/fail`
/// 500; everything else 200.
final class HTTPReceiver: Sendable {
    let port: Int
    private let process: SpawnedProcess

    init(directory: TemporaryDirectory, posts: String, certificate: (chain: String, key: String)? = nil) throws {
        let script = directory.file("receiver.py")
        let portFile = directory.file("port")
        try """
        import http.server, json, os, ssl, sys
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def answer(self, status, body=b'', headers=()):
                self.send_response(status)
                for name, value in headers: self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                name = os.path.join(sys.argv[1], 'post-%d' % len(os.listdir(sys.argv[1])))
                with open(name + '.tmp', 'w') as f:
                    json.dump({'path': self.path, 'authorization': self.headers.get('Authorization'),
                               'body': body.decode()}, f)
                os.rename(name + '.tmp', name)
                if self.path == '/moved':
                    self.answer(302, headers=[('Location', 'https://example.org/')])
                elif self.path == '/fail':
                    self.answer(500, b'internal trouble')
                else:
                    self.answer(200, b'ok')
            def log_message(self, *args): pass
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        if len(sys.argv) > 3:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[3], sys.argv[4])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        with open(sys.argv[2] + '.tmp', 'w') as f: f.write(str(server.server_address[1]))
        os.rename(sys.argv[2] + '.tmp', sys.argv[2])
        server.serve_forever()
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let tls = certificate.map { [$0.chain, $0.key] } ?? []
        process = try SpawnedProcess(["/usr/bin/python3", script, posts, portFile] + tls)
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

    /// The POSTs received, oldest first.
    static func posts(in directory: String) throws -> [[String: Any]] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasSuffix(".tmp") }
            .sorted { Int($0.dropFirst(5)) ?? 0 < Int($1.dropFirst(5)) ?? 0 }
            .map { name in
                let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
                return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            }
    }

    /// Kills it (SIGKILL: a child spawned from a thread that blocks SIGTERM inherits the block).
    func stop() {
        process.signal(SIGKILL)
        process.wait()
    }
}
