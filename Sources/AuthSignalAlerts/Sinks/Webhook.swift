import AsyncHTTPClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The `webhook` sink: one HTTP(S) POST per message, through async-http-client. TLS is verified
/// (the system's trust store, or `CACertificate=`), redirects are not followed (an address that
/// moved must be changed where it is set, and no credential goes to another host), and the
/// address is never named in an error: Slack's and Teams' webhook addresses are their secret.
enum Webhook {
    /// One client for the process's lifetime: its connection pool serves every webhook sink.
    private static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    /// The most of an answer's body read and kept.
    static let answerLimit = 65536

    /// POSTs `body` to `url` with the `Authorization` header `authorization`, within `timeout`;
    /// returns `HTTP <status>` and the start of what the server said.
    /// - Throws: ``DeliveryFailure`` for a connection or TLS failure, a time-out, or a status
    ///   other than 2xx.
    static func post(
        _ body: [UInt8], to url: String, authorization: String?, caCertificate: String?, timeout: Duration
    ) async throws(DeliveryFailure) -> String {
        let host = URLComponents(string: url)?.host ?? "the webhook"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "authsignal-alerts")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(bytes: body))
        if let caCertificate {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caCertificate)
            request.tlsConfiguration = tls
        }
        let status: UInt
        let said: String
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            status = response.status.code
            let buffer = try await response.body.collect(upTo: answerLimit)
            said = SinkProgram.trimmed(String(buffer: buffer))
        } catch {
            throw DeliveryFailure("\(host): \(Self.describe(error))")
        }
        let answer = "HTTP \(status)" + (said.isEmpty ? "" : ": \(said)")
        guard (200..<300).contains(status) else { throw DeliveryFailure("\(host) answered \(answer)") }
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

    /// What went wrong, without the address: async-http-client's and NIOSSL's errors name the
    /// cause (a refused connection, a certificate that did not verify, a time-out).
    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, error == .deadlineExceeded { return "no answer in time" }
        if let error = error as? NIOSSLError, case .handshakeFailed(let cause) = error {
            return String(describing: cause).contains("CERTIFICATE_VERIFY_FAILED")
                ? "TLS handshake failed: the server's certificate did not verify (its CA is not trusted here: "
                    + "CACertificate= names one)"
                : "TLS handshake failed: \(cause)"
        }
        return String(describing: error)
    }
}
