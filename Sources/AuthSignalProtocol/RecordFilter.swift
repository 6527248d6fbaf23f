public import Foundation

/// Which records a query returns; every filter set must match (they AND together).
public struct RecordFilter: Sendable, Hashable {
    /// The order of results, by seq.
    public enum Order: String, Sendable, Hashable, CaseIterable {
        case ascending = "asc"
        case descending = "desc"
    }

    /// Only this account.
    public var user: String?
    /// Only this signal.
    public var signal: AuthSignal?
    /// Only this sender.
    public var sender: String?
    /// Only this `request.remote_addr`.
    public var remoteAddr: String?
    /// Only records with this verdict (docs/verdicts.md).
    public var verdict: VerdictCode?
    /// Only records received at or after this time.
    public var since: Date?
    /// Only records received before this time.
    public var until: Date?
    /// Only records with a greater seq.
    public var afterSeq: Int64?
    /// At most this many records.
    public var limit: Int?
    /// Oldest first (the default) or newest first.
    public var order: Order

    /// Creates a filter; with no arguments it matches every record.
    public init(
        user: String? = nil, signal: AuthSignal? = nil, sender: String? = nil, remoteAddr: String? = nil,
        verdict: VerdictCode? = nil, since: Date? = nil, until: Date? = nil, afterSeq: Int64? = nil,
        limit: Int? = nil, order: Order = .ascending
    ) {
        self.verdict = verdict
        self.user = user
        self.signal = signal
        self.sender = sender
        self.remoteAddr = remoteAddr
        self.since = since
        self.until = until
        self.afterSeq = afterSeq
        self.limit = limit
        self.order = order
    }
}

/// What a ``RecordFilter`` looks at in a record: the audit log's records and the wire's alike.
public protocol FilterableRecord {
    /// The record's seq.
    var seq: Int64 { get }
    /// When the daemon stored it.
    var received: Date { get }
    /// The auth signal.
    var signal: AuthSignal { get }
    /// Who reported it.
    var sender: String { get }
    /// The account.
    var user: String? { get }
    /// `request.remote_addr`.
    var remoteAddr: String? { get }
    /// What the daemon judged it to be.
    var verdicts: [Verdict] { get }
}

extension WireRecord: FilterableRecord {}

extension RecordFilter {
    /// Whether `record` passes every filter set (`limit` and `order` are not about one record).
    /// The one predicate behind live follows, journal reads and anything else that filters
    /// records one by one; the audit log's queries express the same in SQL.
    public func matches(_ record: some FilterableRecord) -> Bool {
        if let user, record.user != user { return false }
        if let signal, record.signal != signal { return false }
        if let sender, record.sender != sender { return false }
        if let remoteAddr, record.remoteAddr != remoteAddr { return false }
        if let verdict, !record.verdicts.contains(where: { $0.code == verdict }) { return false }
        if let since, record.received < since { return false }
        if let until, record.received >= until { return false }
        if let afterSeq, record.seq <= afterSeq { return false }
        return true
    }
}
