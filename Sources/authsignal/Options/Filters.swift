import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

/// The record filters of `query` and `follow`.
struct Filters: ParsableArguments {
    @Option(help: "Only this account.") var user: String?
    @Option(help: "Only this signal: login, logout, failed (or the wire names).") var signal: String?
    @Option(help: "Only this sender (sshd, login, ...).") var sender: String?
    @Option(name: .customLong("remote-addr"), help: "Only this remote address.") var remoteAddr: String?
    @Option(help: "Only logins with this verdict: \(VerdictCode.allCases.map(\.rawValue).joined(separator: ", ")).")
    var verdict: String?
    // A time may start with a dash (-1h): taken whatever it looks like, so `--since -1h` works.
    @Option(
        parsing: .unconditional,
        help: "From this time: RFC 3339, today, yesterday, recent, this-week, -1h, '2 hours ago'.")
    var since: String?
    @Option(parsing: .unconditional, help: "Before this time (same forms as --since).") var until: String?
    @Option(name: .customLong("after-seq"), help: "Only records after this seq.") var afterSeq: Int64?

    /// The filter these options describe (times resolved against `now`).
    func filter(now: Date = Date()) throws -> RecordFilter {
        var filter = RecordFilter(user: user, sender: sender, remoteAddr: remoteAddr, afterSeq: afterSeq)
        if let signal {
            guard let parsed = AuthSignal(name: signal) else {
                throw ValidationError("--signal must be login, logout or failed")
            }
            filter.signal = parsed
        }
        if let verdict {
            guard let code = VerdictCode(rawValue: verdict) else {
                throw ValidationError(
                    "--verdict must be one of \(VerdictCode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.verdict = code
        }
        filter.since = try Self.time(since, option: "since", now: now)
        filter.until = try Self.time(until, option: "until", now: now)
        return filter
    }

    static func time(_ text: String?, option: String, now: Date) throws -> Date? {
        guard let text else { return nil }
        guard let date = TimeExpression.parse(text, now: now) else {
            throw ValidationError("--\(option): cannot read '\(text)' as a time")
        }
        return date
    }
}

extension OutputFormat: ExpressibleByArgument {}

extension RecordFormat: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}
