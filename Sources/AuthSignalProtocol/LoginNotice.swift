/// `notice`: what the login notice tells a user who logs in (`authsignal pam --notice`,
/// docs/sessions.md): the account's last login and failures since, those failures grouped by
/// source, whether this login comes from a source new to the account, and the counts over a
/// period (NIST SP 800-53 AC-9 (2)). Only trusted senders' events count.
public struct LoginNotice: ProtocolAnswer, Hashable {
    /// Failed logins from one source.
    public struct SourceCount: Sendable, Hashable {
        /// The source: the address's network as the verdicts compare it (docs/verdicts.md).
        public var source: String
        /// How many.
        public var count: Int64

        /// A count for a source.
        public init(source: String, count: Int64) {
            self.source = source
            self.count = count
        }
    }

    /// The account as `lastlog` shows it; `nil` when the log knows nothing of it.
    public var account: WireAccount?
    /// The failures since the last login by source, most first: at most three, over the latest
    /// 10,000 of them.
    public var failuresBySource: [SourceCount]
    /// How many sources those failures came from.
    public var failureSources: Int64
    /// The source of the login being made, when it has an address.
    public var source: String?
    /// Whether that source is one the account has never logged in from, as `first-seen-source`
    /// judges it (so never before the account's usual sources are learned).
    public var firstFromSource: Bool
    /// The period the counts cover, in days back from now.
    public var periodDays: Int64
    /// Logins in the period.
    public var loginsInPeriod: Int64
    /// Failed logins in the period.
    public var failuresInPeriod: Int64

    /// A notice with these parts.
    public init(
        account: WireAccount?, failuresBySource: [SourceCount], failureSources: Int64, source: String?,
        firstFromSource: Bool, periodDays: Int64, loginsInPeriod: Int64, failuresInPeriod: Int64
    ) {
        self.account = account
        self.failuresBySource = failuresBySource
        self.failureSources = failureSources
        self.source = source
        self.firstFromSource = firstFromSource
        self.periodDays = periodDays
        self.loginsInPeriod = loginsInPeriod
        self.failuresInPeriod = failuresInPeriod
    }

    /// The answer's fields.
    public var fields: JSONObject {
        [
            "account": account.map { .object($0.object) } ?? .null,
            "failures_by_source": .array(
                failuresBySource.map { .object(["source": .string($0.source), "count": .int($0.count)]) }),
            "failure_sources": .int(failureSources),
            "source": source.map(JSONValue.string) ?? .null,
            "first_from_source": .bool(firstFromSource),
            "period_days": .int(periodDays),
            "logins_in_period": .int(loginsInPeriod),
            "failures_in_period": .int(failuresInPeriod),
        ]
    }

    /// Reads the answer's fields.
    public init(fields: JSONObject) throws(ProtocolError) {
        var reader = Fields(fields)
        let account = try reader.object("account")
        var bySource: [SourceCount] = []
        if case .array(let elements)? = fields["failures_by_source"] {
            for element in elements {
                guard case .object(let object) = element, let source = object["source"]?.stringValue,
                    case .int(let count)? = object["count"]
                else { throw .invalid("\"failures_by_source\" holds an element that is not {source, count}") }
                bySource.append(SourceCount(source: source, count: count))
            }
        }
        self.init(
            account: try account.map { object throws(ProtocolError) in try WireAccount(object) },
            failuresBySource: bySource,
            failureSources: try reader.integer("failure_sources", minimum: 0) ?? 0,
            source: try reader.string("source"),
            firstFromSource: fields["first_from_source"] == .bool(true),
            periodDays: try reader.integer("period_days", minimum: 0) ?? 0,
            loginsInPeriod: try reader.integer("logins_in_period", minimum: 0) ?? 0,
            failuresInPeriod: try reader.integer("failures_in_period", minimum: 0) ?? 0)
    }
}
