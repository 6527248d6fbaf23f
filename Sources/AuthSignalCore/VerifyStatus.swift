import Foundation

/// The outcome of the last scheduled `authsignal verify` (authsignal-verify.timer, PCI DSS
/// 10.3.4), kept beside the audit log for the alert service: a `Health=verify-failed` rule fires
/// on a result that is not `intact` (docs/alerts.md).
package struct VerifyStatus: Sendable, Hashable, Codable {
    /// What the check found.
    package enum Result: String, Sendable, Hashable, Codable {
        /// The chain checked, and agreed with the journal's anchors where there were any.
        case intact
        /// A record or anchor did not match.
        case tampered
        /// The check could not be made (the daemon or the log unreachable).
        case unavailable
    }

    /// When the check ended (RFC 3339).
    package var time: String
    package var result: Result
    /// What it said, one line.
    package var detail: String

    package init(time: String, result: Result, detail: String) {
        self.time = time
        self.result = result
        self.detail = detail
    }

    /// Where the status of the audit log at `storePath` is kept: `verify-status.json` beside it.
    package static func path(forStore storePath: String) -> String {
        (storePath as NSString).deletingLastPathComponent + "/verify-status.json"
    }

    /// The status kept at `path`; `nil` when there is none or it cannot be read.
    package static func read(from path: String) -> VerifyStatus? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Self.self, from: data)
    }

    /// Replaces the status at `path` with this one (mode 0644: the alert service reads it).
    package func write(to path: String) throws(ReplacedFile.Failure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        try ReplacedFile.write(Array(data) + [UInt8(ascii: "\n")], to: path)
    }
}
