public import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation

/// The record filters of `query` and `follow`.
struct Filters: ParsableArguments {
    @Option(help: "Only this account.") var user: String?
    @Option(help: "Only this signal: login, logout, failed (or the wire names).") var signal: String?
    @Option(help: "Only this sender (sshd, login, ...).") var sender: String?
    @Option(name: .customLong("remote-addr"), help: "Only this remote address.") var remoteAddr: String?
    @Option(help: "From this time: RFC 3339, today, yesterday, recent, this-week, -1h, '2 hours ago'.")
    var since: String?
    @Option(help: "Before this time (same forms as --since).") var until: String?
    @Option(name: .customLong("after-seq"), help: "Only records after this seq.") var afterSeq: Int64?

    func request(op: String, now: Date = Date()) throws -> JSONObject {
        var request: JSONObject = ["op": .string(op)]
        if let user { request["user"] = .string(user) }
        if let signal {
            guard let parsed = AuthSignal(name: signal) else {
                throw ValidationError("--signal must be login, logout or failed")
            }
            request["signal"] = .string(parsed.rawValue)
        }
        if let sender { request["sender"] = .string(sender) }
        if let remoteAddr { request["remote_addr"] = .string(remoteAddr) }
        for (name, text) in [("since", since), ("until", until)] {
            guard let text else { continue }
            guard let date = TimeExpression.parse(text, now: now) else {
                throw ValidationError("--\(name): cannot read '\(text)' as a time")
            }
            request[name] = .string(RFC3339.format(date))
        }
        if let afterSeq { request["after_seq"] = .int(afterSeq) }
        return request
    }
}

extension OutputFormat: ExpressibleByArgument {}
