import AuthSignalProtocol
import Foundation
import Glibc
import Subprocess

/// The `webhook` sink: one HTTP(S) POST per message through Debian's curl (libcurl: the HTTP
/// client every distribution keeps patched, with the system's trust store). TLS is verified (the
/// system's CAs, or `CACertificate=`); redirects are not followed (an address that moved must be
/// changed where it is set, and no credential goes to another host); the address and the
/// `Authorization` header reach curl in its configuration on standard input, never on its
/// command line, and no error names the address: Slack's and Teams' webhook addresses are their
/// secret.
enum Webhook {
    /// POSTs `body` to `url` with the `Authorization` header `authorization`, within `timeout`,
    /// by running `curl`; returns `HTTP <status>` and the start of what the server said.
    /// - Throws: ``DeliveryFailure`` for a connection or TLS failure, a time-out, or a status
    ///   other than 2xx.
    static func post(
        _ body: [UInt8], to url: String, authorization: String?, caCertificate: String?, timeout: Duration,
        curl: String
    ) async throws(DeliveryFailure) -> String {
        let host = URLComponents(string: url)?.host ?? "the webhook"
        let bodyFile = try BodyFile(body)
        defer { bodyFile.remove() }
        var config = try [Self.option("url", url), Self.option("data-binary", "@" + bodyFile.path)]
        if let authorization { config.append(try Self.option("header", "Authorization: " + authorization)) }
        var command = [
            curl, "--config", "-", "--silent", "--show-error", "--proto", "=http,https", "--max-redirs", "0",
            "--max-time", String(timeout.components.seconds), "--header", "Content-Type: application/json",
            "--user-agent", "authsignal-alerts", "--write-out", "\\n%{http_code}",
        ]
        if let caCertificate { command += ["--cacert", caCertificate] }
        // curl keeps its own time; this only stops a curl that does not.
        let (status, output) = try await SinkProgram.execute(
            command, input: Array(config.joined(separator: "\n").utf8) + [10], timeout: timeout + .seconds(5))
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let code = lines.popLast().flatMap { Int($0) } ?? 0
        let said = SinkProgram.trimmed(lines.joined(separator: "\n"))
        guard case .exited(0) = status else {
            throw DeliveryFailure("\(host): \(Self.describe(status, said: said))")
        }
        let answer = "HTTP \(code)" + (said.isEmpty ? "" : ": \(said)")
        guard (200..<300).contains(code) else { throw DeliveryFailure("\(host) answered \(answer)") }
        return answer
    }

    /// The body for `message`: its JSON, or `template` with each placeholder replaced.
    static func body(_ message: AlertMessage, template: String?) -> [UInt8] {
        guard let template else { return Array(message.json().dropLast()) }
        let values: [String: String] = [
            "subject": message.subject, "text": message.text, "rule": message.rule, "host": message.host,
            "kind": message.kind, "count": String(message.count),
        ]
        var body = template
        for (name, value) in values {
            var quoted: [UInt8] = []
            CanonicalJSON.appendString(value, to: &quoted)
            body = body.replacingOccurrences(
                of: "{{\(name)}}", with: String(decoding: quoted.dropFirst().dropLast(), as: UTF8.self))
        }
        body = body.replacingOccurrences(
            of: "{{json}}", with: String(decoding: message.json().dropLast(), as: UTF8.self))
        return Array(body.utf8)
    }

    /// A line of curl's configuration, `name = "value"`, the value quoted as curl reads it.
    /// - Throws: for a value on more than one line (a credential file with several).
    private static func option(_ name: String, _ value: String) throws(DeliveryFailure) -> String {
        guard !value.contains(where: \.isNewline) else {
            throw DeliveryFailure("the webhook's \(name) holds more than one line")
        }
        let quoted = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\(name) = \"\(quoted)\""
    }

    /// Why curl failed, without the address (curl's own message names the host and port at most).
    private static func describe(_ status: TerminationStatus, said: String) -> String {
        switch status {
        case .exited(60):
            "TLS handshake failed: the server's certificate did not verify (its CA is not trusted here: "
                + "CACertificate= names one)"
        case .exited(28): "no answer in time"
        default: "curl \(SinkProgram.describe(status))" + (said.isEmpty ? "" : ": \(said)")
        }
    }

    /// The body, in a file of the service's own (mode 0600, in its private /tmp) that curl reads
    /// by name, removed after the delivery.
    private struct BodyFile {
        let path: String

        init(_ body: [UInt8]) throws(DeliveryFailure) {
            var template = Array(
                (FileManager.default.temporaryDirectory.path + "/authsignal-webhook.XXXXXX").utf8CString)
            let descriptor = mkstemp(&template)
            guard descriptor >= 0 else {
                throw DeliveryFailure("cannot hold the message: \(String(cString: strerror(errno)))")
            }
            defer { close(descriptor) }
            path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let written = body.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard written == body.count else {
                unlink(path)
                throw DeliveryFailure("cannot hold the message: \(String(cString: strerror(errno)))")
            }
        }

        func remove() { unlink(path) }
    }
}
