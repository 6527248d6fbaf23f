/// The senders whose events are believed (docs/protocol.md, "Trusted senders"): root, which the
/// PAM hook and its spool run as, and `[Access] TrustedUsers`. Anyone allowed to emit can record
/// an event; only a trusted sender's events get an address banned, move an account's last login,
/// count as its failures, or begin and end its sessions.
public struct TrustedSenders: Sendable, Hashable {
    /// The trusted uids, root among them.
    public let uids: Set<UInt32>

    /// `uids` and root.
    public init(uids: Set<UInt32>) {
        self.uids = uids.union([0])
    }

    /// Root alone: the default, and what a reader assumes without the daemon's configuration.
    public static let rootOnly = TrustedSenders(uids: [])

    /// Whether the sender `uid` is trusted.
    public func trusts(_ uid: UInt32) -> Bool { uids.contains(uid) }

    /// Whether a record of `signal` from `uid` is to be believed: a trusted sender's, or one of
    /// the daemon's own records (account and lifecycle signals), which no client can send.
    public func trusts(_ uid: UInt32, sending signal: AuthSignal) -> Bool { !signal.isEmittable || trusts(uid) }
}
