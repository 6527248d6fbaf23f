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
        since: Date? = nil, until: Date? = nil, afterSeq: Int64? = nil, limit: Int? = nil,
        order: Order = .ascending
    ) {
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
