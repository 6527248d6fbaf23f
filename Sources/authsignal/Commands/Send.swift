import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Send: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send an event: login, logout or login-failed (or --json: protocol objects from stdin).",
            discussion: """
                Secrets never go on the command line (where ps shows them): give a credential's value as \
                KEY=@- to read it from stdin, or KEY=@FILE to read it from a file. A sensitive-looking key \
                (password, token, secret, ...) with an inline value is refused.
                """)

        @OptionGroup var connection: Connection
        @Argument(help: "login, logout or login-failed.") var kind: String?
        @Option(help: "The account.") var user: String?
        @Option(help: "Who reports the event (sshd, login, a script's name).") var sender = "authsignal"
        @Option(name: .customLong("remote-addr"), help: "The remote address.") var remoteAddr: String?
        @Option(name: .customLong("request"), help: "A request field KEY=VALUE (repeatable).") var requestFields:
            [String] =
                []
        @Option(
            name: .customLong("credential"), help: "A credential KEY=@- (stdin), KEY=@FILE or KEY=VALUE (repeatable).")
        var credentialFields: [String] = []
        @Option(help: "Idempotency key: a repeat is stored once.") var id: String?
        @Option(parsing: .unconditional, help: "When it happened at the source (same forms as query --since).")
        var time: String?
        @Flag(help: "Read complete protocol objects from stdin, one per line, and send them pipelined.") var json =
            false

        func run() throws {
            let daemon = try connection.open()
            if json { return try sendJSON(daemon) }
            guard let kind, let signal = Self.signal(kind) else {
                throw ValidationError("say what happened: login, logout or login-failed")
            }
            var details = JSONObject(
                try Self.pairs(requestFields, what: "--request").mapValues { JSONValue.string($0) })
            if let remoteAddr { details["remote_addr"] = .string(remoteAddr) }
            let credentials = try Self.credentials(credentialFields)
            var when: Date?
            if let time {
                guard let date = TimeExpression.parse(time) else {
                    throw ValidationError("--time: cannot read '\(time)'")
                }
                when = date
            }
            let event = AuthEvent(
                signal: signal, sender: sender, user: user, request: details.isEmpty ? nil : details,
                credentials: credentials.isEmpty ? nil : credentials, time: when, id: id)
            do {
                printOut(Self.describe(try daemon.request(.emit(event), as: EmitAnswer.self)) + "\n")
            } catch {
                throw fail(error)
            }
        }

        /// Pipelines every stdin line; prints one result per line; exits 3 if any failed.
        private func sendJSON(_ daemon: DaemonConnection) throws {
            var lines: [[UInt8]] = []
            while let line = readLine(strippingNewline: true) {
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(Array(line.utf8) + [10]) }
            }
            var failures = 0
            var index = 0
            let window = 128
            let progress = Progress()
            defer { progress.done() }
            var sent = 0
            do {
                while index < lines.count {
                    while sent < lines.count, sent - index < window {
                        try daemon.send(bytes: lines[sent])
                        sent += 1
                    }
                    progress.update(index + 1, of: lines.count, what: "events")
                    do {
                        // Any op may be on a line: an emit's answer says its seq, the others "ok".
                        let fields = try daemon.answerFields()
                        printOut(((try? EmitAnswer(fields: fields)).map(Self.describe) ?? "ok") + "\n")
                    } catch ClientError.daemon(let code, let message) {
                        failures += 1
                        printOut("line \(index + 1): \(code): \(message)\n")
                    }
                    index += 1
                }
            } catch {
                throw fail(error)
            }
            if failures > 0 {
                FileHandle.standardError.write(
                    Data("authsignal: \(failures) of \(lines.count) events were not stored\n".utf8))
                throw ExitStatus.unavailable.exit
            }
        }

        static func describe(_ answer: EmitAnswer) -> String {
            answer.duplicate ? "seq \(answer.seq) (duplicate: stored before)" : "seq \(answer.seq)"
        }

        static func signal(_ kind: String) -> AuthSignal? {
            switch kind {
            case "login", "logged-in": .userLoggedIn
            case "logout", "logged-out": .userLoggedOut
            case "login-failed", "failed": .userLoginFailed
            default: AuthSignal(rawValue: kind)
            }
        }

        static func pairs(_ fields: [String], what: String) throws -> [String: String] {
            var result: [String: String] = [:]
            for field in fields {
                let (key, value) = try split(field, usage: "\(what) takes KEY=VALUE")
                result[key] = value
            }
            return result
        }

        /// `KEY=VALUE` as its two parts; `usage` is the error when there is no key.
        static func split(_ field: String, usage: String) throws -> (key: String, value: String) {
            guard let equals = field.firstIndex(of: "="), equals != field.startIndex else {
                throw ValidationError(usage)
            }
            return (String(field[..<equals]), String(field[field.index(after: equals)...]))
        }

        /// Credential values: `@-` from stdin (one line), `@FILE` from a file (trailing newline
        /// removed); an inline value only for keys that do not look sensitive.
        static func credentials(_ fields: [String]) throws -> JSONObject {
            var result = JSONObject()
            var stdinUsed = false
            for field in fields {
                let (key, value) = try split(field, usage: "--credential takes KEY=@- (stdin), KEY=@FILE or KEY=VALUE")
                if value == "@-" {
                    guard !stdinUsed else { throw ValidationError("only one credential can be read from stdin") }
                    stdinUsed = true
                    result[key] = .string(readLine(strippingNewline: true) ?? "")
                } else if value.hasPrefix("@") {
                    let path = String(value.dropFirst())
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw ValidationError("--credential \(key): cannot read \(path)")
                    }
                    var text = String(decoding: data, as: UTF8.self)
                    if text.hasSuffix("\n") { text.removeLast() }
                    result[key] = .string(text)
                } else {
                    guard !Redactor.looksSensitive(key) else {
                        // The value is not repeated: it is a secret already exposed on the command line.
                        throw ValidationError(
                            "--credential \(key) looks secret: do not put its value on the command line "
                                + "(ps shows it); pass \(key)=@- and write the value to stdin, or \(key)=@FILE")
                    }
                    result[key] = .string(value)
                }
            }
            return result
        }
    }
}
