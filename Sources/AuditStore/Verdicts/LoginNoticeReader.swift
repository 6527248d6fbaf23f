package import AuthSignalCore
package import AuthSignalProtocol
package import Foundation
import GRDB

extension AuditStore {
    /// What the login notice tells `user`, logging in from `remoteAddr` now (``LoginNotice``):
    /// read before the login is stored, so "last login" is the one before it. Trusted senders'
    /// events only, as for `lastlog`; sources as `settings` draw them.
    package func notice(
        user: String, remoteAddr: String?, periodDays: Int64, settings: VerdictSettings, now: Date = Date()
    ) async throws -> LoginNotice {
        let trusted = writer.merger.trusted
        let account = try await ActivityReader.accounts(pool, matching: AccountFilter(user: user), trusted: trusted)
            .first
        let source = remoteAddr.map {
            LoginSource(address: $0, ipv4Prefix: settings.ipv4Prefix, ipv6Prefix: settings.ipv6Prefix)
        }
        let firstFromSource =
            remoteAddr.map {
                writer.verdicts?.isFirstSeen(user: user, address: $0, at: Microseconds.from(now)) ?? false
            }
            ?? false
        let since = now.addingTimeInterval(-Double(periodDays) * 86400)
        return try await pool.read { db in
            let (bySource, sources) = try NoticeCounts.failuresBySource(
                db, user: user, after: account?.lastLogin?.seq, trusted: trusted, settings: settings)
            let period = try NoticeCounts.perSignal(db, user: user, since: since, trusted: trusted)
            return LoginNotice(
                account: account, failuresBySource: bySource, failureSources: sources, source: source?.text,
                firstFromSource: firstFromSource, periodDays: periodDays,
                loginsInPeriod: period[.userLoggedIn] ?? 0, failuresInPeriod: period[.userLoginFailed] ?? 0)
        }
    }
}

/// The notice's counts, read with bounded work so that the notice stays within its time bound
/// however many records an account has.
enum NoticeCounts {
    /// The most recent failures grouped by source.
    static let failuresGrouped = 10_000

    /// The top three sources of `user`'s failures after seq `after` (all, when `nil`), over the
    /// latest ``failuresGrouped`` of them, and how many sources there were.
    static func failuresBySource(
        _ db: Database, user: String, after: Int64?, trusted: TrustedSenders, settings: VerdictSettings
    ) throws -> ([LoginNotice.SourceCount], Int64) {
        let query = RecordQuery(
            filter: RecordFilter(
                user: user, signal: .userLoginFailed, afterSeq: after, limit: failuresGrouped, order: .descending))
        var counts: [String: Int64] = [:]
        for record in try query.page(db, size: failuresGrouped) where trusted.trusts(record.peer.uid) {
            let source =
                record.remoteAddr.map {
                    LoginSource(address: $0, ipv4Prefix: settings.ipv4Prefix, ipv6Prefix: settings.ipv6Prefix).text
                } ?? "no address"
            counts[source, default: 0] += 1
        }
        let top = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3)
        return (top.map { LoginNotice.SourceCount(source: $0.key, count: $0.value) }, Int64(counts.count))
    }

    /// How many of `user`'s records of trusted senders were received since `since`, per signal:
    /// counted by SQL through the user index and the unindexed tail, without reading them.
    static func perSignal(_ db: Database, user: String, since: Date, trusted: TrustedSenders) throws -> [AuthSignal:
        Int64]
    {
        let first =
            try Int64.fetchOne(
                db, sql: "SELECT seq FROM records WHERE received >= ? ORDER BY received, seq LIMIT 1",
                arguments: [Microseconds.from(since)]) ?? Int64.max
        let indexed = try Schema.indexedThrough(db)
        let uids = trusted.uids.sorted().map(String.init).joined(separator: ", ")
        var counts: [AuthSignal: Int64] = [:]
        for (sql, arguments): (String, StatementArguments) in [
            (
                """
                SELECT r.signal, count(*) FROM records_by_user k JOIN records r ON r.seq = k.seq
                WHERE k.user = ? AND k.seq >= ? AND k.seq <= ? AND r.peer_uid IN (\(uids)) GROUP BY r.signal
                """, [user, first, indexed]
            ),
            // The tail by seq range: left to itself, SQLite would scan the whole signal index to
            // group by signal.
            (
                """
                SELECT signal, count(*) FROM records NOT INDEXED
                WHERE seq > ? AND user = ? AND peer_uid IN (\(uids)) GROUP BY signal
                """, [max(indexed, first == .max ? .max : first - 1), user]
            ),
        ] {
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                guard let signal = AuthSignal(rawValue: row[0]) else { continue }
                counts[signal, default: 0] += row[1]
            }
        }
        return counts
    }
}
