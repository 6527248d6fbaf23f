package import AuthSignalProtocol
import Glibc

extension TrustedSenders {
    /// The senders `config` trusts, its `TrustedUsers` resolved through the system's accounts;
    /// `unresolved` gets each name that matches no account.
    package init(_ config: DaemonConfig, unresolved: (String) -> Void = { _ in }) {
        self.init(
            uids: Set(
                config.trustedUsers.compactMap { name in
                    if let uid = UInt32(name) ?? getpwnam(name)?.pointee.pw_uid { return uid }
                    unresolved(name)
                    return nil
                }))
    }
}
