package import AuditJournal
package import AuditStore
package import AuthSignalCore
package import AuthSignalProtocol
import Foundation
import Glibc

/// Decides which rules a record fires. Every condition a rule sets must hold (they AND
/// together), each list matching any of its values; an ignore list vetoes.
package struct RuleMatcher: Sendable {
    package let rules: [AlertRule]
    package let trusted: TrustedSenders
    /// The groups (names and gids, as text) an account is in; asked only for rules with
    /// `Groups=`.
    package let groupsOf: @Sendable (String) -> Set<String>

    package init(
        rules: [AlertRule], trusted: TrustedSenders,
        groupsOf: @escaping @Sendable (String) -> Set<String> = AccountGroups.of
    ) {
        self.rules = rules.filter { $0.health.isEmpty }
        self.trusted = trusted
        self.groupsOf = groupsOf
    }

    /// The rules `record` fires, in configuration order.
    package func rules(firedBy record: AuditRecord) -> [AlertRule] {
        rules(firedBy: record.wire, trusted: trusted.trusts(record.peer.uid, sending: record.signal))
    }

    /// The rules `record` fires, in configuration order, `trusted` saying whether its sender is
    /// (on a fleet's collector, as the record's host judged it: each host has its own
    /// `TrustedUsers`).
    package func rules(firedBy record: WireRecord, trusted: Bool) -> [AlertRule] {
        // History brought in by `authsignal import` happened long ago: nobody is to be told now.
        if record.sender.hasPrefix(AuditRecord.importedSenderPrefix) { return [] }
        var groups: Set<String>?
        return rules.filter { rule in
            fires(rule, record, trusted: trusted) {
                if groups == nil { groups = record.user.map(groupsOf) ?? [] }
                return groups!
            }
        }
    }

    /// A record that fired rules, and its alert.
    package struct Firing: Sendable {
        package var record: AuditRecord
        package var rules: [AlertRule]
        package var event: AlertEvent
    }

    /// A record that reached a fleet's collector and fired rules, and its alert.
    package struct FleetFiring: Sendable {
        package var record: FleetRecord
        package var rules: [AlertRule]
        package var event: AlertEvent

        /// What makes its alerts unique for a rule and sink: the host, its log and the seq.
        package var key: String {
            let record = record.entry
            return "fleet:\(record.record.host ?? ""):\(record.log ?? ""):\(record.record.seq)"
        }
    }

    /// The records of `records`, collected from a fleet's hosts, that fire rules, each with its
    /// alert. Whether a sender is trusted is its host's judgement.
    package func firings(_ records: [FleetRecord]) -> [FleetFiring] {
        records.compactMap { record in
            let fired = rules(firedBy: record.entry.record, trusted: record.entry.trusted)
            guard !fired.isEmpty else { return nil }
            return FleetFiring(record: record, rules: fired, event: AlertEvent(fleet: record))
        }
    }

    /// The records of `records` (read from `log`) that fire rules, each with its alert: a login's
    /// carries the account's previous trusted login, read from `log`.
    package func firings(_ records: [AuditRecord], in log: ReadOnlyAuditLog) async throws -> [Firing] {
        var firings: [Firing] = []
        for record in records {
            let fired = rules(firedBy: record)
            guard !fired.isEmpty else { continue }
            var previous: AuditRecord?
            if record.signal == .userLoggedIn, let user = record.user {
                previous = try await log.previousLogin(of: user, before: record.seq)
            }
            let event = AlertEvent(
                record: record, trusted: trusted.trusts(record.peer.uid, sending: record.signal), previous: previous)
            firings.append(Firing(record: record, rules: fired, event: event))
        }
        return firings
    }

    private func fires(_ rule: AlertRule, _ record: WireRecord, trusted: Bool, groups: () -> Set<String>) -> Bool {
        if rule.senders == .trusted && !trusted { return false }
        if !rule.signals.isEmpty && !rule.signals.contains(record.signal) { return false }
        if !rule.verdicts.isEmpty && !record.verdicts.contains(where: { rule.verdicts.contains($0.code) }) {
            return false
        }
        let user = record.user
        if !rule.users.isEmpty && !rule.users.contains(where: { $0 == user }) { return false }
        if let user, rule.ignoreUsers.contains(user) { return false }
        if !rule.services.isEmpty {
            guard let service = record.request?["service"]?.stringValue, rule.services.contains(service) else {
                return false
            }
        }
        let source = record.remoteAddr
        if !rule.sources.isEmpty {
            guard let source, rule.sources.contains(where: { $0.contains(source) }) else { return false }
        }
        if let source, rule.ignoreSources.contains(where: { $0.contains(source) }) { return false }
        if !rule.groups.isEmpty && groups().isDisjoint(with: rule.groups) { return false }
        return true
    }
}

/// An account's groups through the system's name services (`getgrouplist`), as names and gids.
package enum AccountGroups {
    /// The groups of `user`: its primary group and its supplementary ones, each by name and by
    /// gid; none for an account the system does not know.
    package static func of(_ user: String) -> Set<String> {
        var buffer = [CChar](repeating: 0, count: 16384)
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        guard getpwnam_r(user, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return [] }
        var count: Int32 = 64
        var gids = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, entry.pw_gid, &gids, &count) < 0 {
            gids = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(user, entry.pw_gid, &gids, &count)
        }
        var names: Set<String> = []
        for gid in gids.prefix(Int(max(count, 0))) {
            names.insert(String(gid))
            if let group = getgrgid(gid) { names.insert(String(cString: group.pointee.gr_name)) }
        }
        return names
    }
}
