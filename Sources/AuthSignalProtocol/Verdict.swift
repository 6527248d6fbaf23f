/// What the daemon judges a login to be, by its stable code (docs/verdicts.md).
public enum VerdictCode: String, Sendable, Hashable, CaseIterable, Codable {
    /// A successful login of an account from a source it never logged in from, once the account
    /// or the log is old enough to know its usual sources.
    case firstSeenSource = "first-seen-source"
    /// A successful login after failed ones against the same account, or from the same source,
    /// within a window.
    case successAfterFailures = "success-after-failures"
    /// A login by a system account: a uid in the system range, or a shell that refuses logins.
    case systemAccountLogin = "system-account-login"
    /// A login while the same account has an open session from another source.
    case concurrentSources = "concurrent-sources"
    /// A login outside the hours the admin set.
    case outsideHours = "outside-hours"
}

/// Whose history a verdict was judged against, where that is said: on a fleet's collector, a
/// host's own (its daemon's verdict, read from its journal) or the whole fleet's (judged there,
/// over every host's records; docs/fleet.md).
public enum VerdictScope: String, Sendable, Hashable, CaseIterable, Codable {
    case host
    case fleet
}

/// One verdict on a login: its code, and a sentence that names the facts behind it.
public struct Verdict: Sendable, Hashable {
    /// Which verdict.
    public var code: VerdictCode
    /// Why, for a person: the account, the source and the facts compared (never a secret; the
    /// account as the log stores it).
    public var reason: String
    /// Whose history it was judged against; `nil` in a host's own log, whose verdicts are all
    /// the host's (`scope` on the wire, absent then).
    public var scope: VerdictScope?

    /// A verdict with this code and reason, of `scope`.
    public init(_ code: VerdictCode, _ reason: String, scope: VerdictScope? = nil) {
        self.code = code
        self.reason = reason
        self.scope = scope
    }

    /// `code`, with its scope when one is said: `first-seen-source` or `first-seen-source@fleet`.
    public var label: String { scope.map { "\(code.rawValue)@\($0.rawValue)" } ?? code.rawValue }

    /// Appends `[{"code":…,"reason":…},…]` (with `"scope":…` when said).
    public static func appendArray(_ verdicts: [Verdict], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, verdict) in verdicts.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: #"{"code":""#.utf8)
            output.append(contentsOf: verdict.code.rawValue.utf8)
            output.append(contentsOf: #"","reason":"#.utf8)
            CanonicalJSON.appendString(verdict.reason, to: &output)
            if let scope = verdict.scope {
                output.append(contentsOf: #","scope":""#.utf8)
                output.append(contentsOf: scope.rawValue.utf8)
                output.append(UInt8(ascii: "\""))
            }
            output.append(UInt8(ascii: "}"))
        }
        output.append(UInt8(ascii: "]"))
    }

    /// The verdicts a record's `verdicts` value holds.
    /// - Throws: ``ProtocolError`` when an element is not `{code, reason}` (and an optional
    ///   `scope`) with a known code and scope.
    public static func array(_ value: JSONValue?) throws(ProtocolError) -> [Verdict] {
        guard let value, value != .null else { return [] }
        guard case .array(let elements) = value else { throw .invalid("\"verdicts\" must be an array") }
        var verdicts: [Verdict] = []
        for element in elements {
            guard case .object(let object) = element, let codeName = object["code"]?.stringValue,
                let reason = object["reason"]?.stringValue
            else { throw .invalid("each verdict must be {\"code\":…,\"reason\":…}") }
            guard let code = VerdictCode(rawValue: codeName) else {
                throw .invalid("unknown verdict \"\(DisplaySafe.escaped(codeName))\"")
            }
            var scope: VerdictScope?
            if let value = object["scope"], value != .null {
                guard let name = value.stringValue, let known = VerdictScope(rawValue: name) else {
                    throw .invalid("a verdict's \"scope\" must be \"host\" or \"fleet\"")
                }
                scope = known
            }
            verdicts.append(Verdict(code, reason, scope: scope))
        }
        return verdicts
    }
}
