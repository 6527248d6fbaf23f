/// A record in one sentence for a person, the same in every export and report: `alice logged in
/// from 192.0.2.7 via sshd`, `account bob locked`, `authsignald started (0.9.0)`. Values are as
/// the record holds them; a caller that prints to a terminal escapes them.
public enum RecordSentence {
    /// The sentence for `record`.
    public static func text(_ record: WireRecord) -> String {
        let who = record.user ?? "(no user)"
        let request = record.request ?? [:]
        let origin = request["remote_addr"]?.stringValue.map { " from \($0)" } ?? ""
        let via = request["service"]?.stringValue.map { " via \($0)" } ?? ""
        switch record.signal {
        case .userLoggedIn: return "\(who) logged in\(origin)\(via)"
        case .userLoggedOut: return "\(who) logged out\(origin)\(via)"
        case .userLoginFailed: return "\(who) failed to log in\(origin)\(via)"
        case .passwordChanged: return "password of \(who) changed\(via)"
        case .passwordChangeFailed: return "password change of \(who) failed\(via)"
        case .accountAdded:
            return "account \(who) added" + (request["uid"]?.intValue.map { " (uid \($0))" } ?? "")
        case .accountRemoved: return "account \(who) removed"
        case .accountLocked: return "account \(who) locked"
        case .accountUnlocked: return "account \(who) unlocked"
        case .groupMembershipChanged:
            let group = request["group"]?.stringValue ?? "?"
            return request["change"]?.stringValue == "removed"
                ? "\(who) removed from group \(group)" : "\(who) added to group \(group)"
        case .daemonStarted:
            return "authsignald started" + (request["version"]?.stringValue.map { " (\($0))" } ?? "")
        case .daemonStopped: return "authsignald stopped"
        case .configReloaded: return "authsignald reloaded its configuration"
        case .retentionRan:
            return "retention removed " + (request["removed"]?.intValue.map { "\($0) records" } ?? "records")
        }
    }
}
