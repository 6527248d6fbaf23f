package import AuthSignalCore
import Foundation

/// Delivers a message through one sink, as its section sets it.
package struct SinkDriver: Sendable {
    package let sink: AlertSink
    /// Where credentials are read: systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`), else
    /// `/etc/credstore`, where systemd itself looks for them.
    package let credentialsDirectory: String

    package init(sink: AlertSink, credentialsDirectory: String = SinkDriver.defaultCredentialsDirectory) {
        self.sink = sink
        self.credentialsDirectory = credentialsDirectory
    }

    /// `$CREDENTIALS_DIRECTORY`, or `/etc/credstore`.
    package static var defaultCredentialsDirectory: String {
        ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] ?? "/etc/credstore"
    }

    /// Sends `message`; returns what the sink answered.
    /// - Throws: ``DeliveryFailure`` saying why it was not delivered.
    package func deliver(_ message: AlertMessage) async throws(DeliveryFailure) -> String {
        let timeout = Duration.seconds(sink.timeoutSeconds)
        switch sink.type {
        case .exec:
            return try await SinkProgram.run(sink.program, input: Array(message.json()), timeout: timeout)
        case .mail:
            var command = sink.program + ["-i"]
            if let from = sink.from { command += ["-f", from] }
            command += ["--"] + sink.to
            return try await SinkProgram.run(
                command, input: Array(MailText(message, sink: sink).bytes), timeout: timeout)
        case .apprise:
            let config = try credential(sink.configCredential ?? "")
            // The body on standard input, so that nothing but the title is on the command line.
            let command =
                sink.program + ["--config=\(config)", "--title=\(message.subject)", "--notification-type=warning"]
            return try await SinkProgram.run(command, input: Array(message.text.utf8), timeout: timeout)
        case .webhook:
            let url = try sink.urlCredential.map(secret) ?? sink.url ?? ""
            return try await Webhook.post(
                Webhook.body(message, template: sink.template), to: url,
                authorization: try sink.authorizationCredential.map(secret), caCertificate: sink.caCertificate,
                timeout: timeout, curl: sink.program[0])
        }
    }

    /// The contents of the credential `name`, without the line break that ends it.
    private func secret(_ name: String) throws(DeliveryFailure) -> String {
        let path = try credential(name)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DeliveryFailure("credential \(name) cannot be read at \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The path of the credential `name`, once it is known to be readable.
    private func credential(_ name: String) throws(DeliveryFailure) -> String {
        let path = credentialsDirectory + "/" + name
        guard access(path, R_OK) == 0 else {
            throw DeliveryFailure(
                "credential \(name) is not readable at \(path); give it to the service with "
                    + "LoadCredential=\(name):/etc/credstore/\(name) (docs/alerts.md)")
        }
        return path
    }
}

/// A message as a mail for sendmail: RFC 5322 headers (the subject encoded per RFC 2047 when it
/// is not ASCII), marked `Auto-Submitted` (RFC 3834) so that no auto-responder answers it, and
/// the text as UTF-8.
struct MailText {
    let bytes: Data

    init(_ message: AlertMessage, sink: AlertSink) {
        var headers: [String] = []
        if let from = sink.from { headers.append("From: \(from)") }
        headers.append("To: \(sink.to.joined(separator: ", "))")
        headers.append("Subject: \(Self.encodedWord(message.subject))")
        headers.append("Date: \(Self.date(Date()))")
        headers.append("Auto-Submitted: auto-generated")
        headers.append("X-Authsignal-Rule: \(message.rule)")
        headers.append("X-Authsignal-Kind: \(message.kind)")
        headers.append("MIME-Version: 1.0")
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        bytes = Data((headers.joined(separator: "\n") + "\n\n" + message.text).utf8)
    }

    /// `text` as is when it is printable ASCII, else as one RFC 2047 encoded word.
    static func encodedWord(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        return "=?UTF-8?B?" + Data(text.utf8).base64EncodedString() + "?="
    }

    /// `Mon, 07 Dec 2026 00:31:02 +0000`.
    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }
}
