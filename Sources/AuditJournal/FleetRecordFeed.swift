package import AuditStore
package import AuthSignalCore
import AuthSignalProtocol
package import Foundation
import Systemd

/// How far a reader of a collector's directory has handled one host's records: the journal cursor
/// of the last one, and when its entry was written (µs), for when that entry is gone.
package struct FleetPosition: Sendable, Hashable {
    package var cursor: String
    package var realtime: Int64

    package init(cursor: String, realtime: Int64) {
        self.cursor = cursor
        self.realtime = realtime
    }
}

/// A record that reached a fleet's collector, as the alert service acts on it.
package struct FleetRecord: Sendable {
    /// The record, its host on it, and its verdicts: its host's own (scope `host`) and the
    /// fleet's (scope `fleet`).
    package var entry: JournalActivityEntry
    /// For a login: the account's previous login by a trusted sender on any host.
    package var previousLogin: FleetLogin?
    /// Where its host's files stand after it.
    package var position: FleetPosition
}

/// A login as the fleet remembers it: when (the event's own time, else when it was stored),
/// from where, and on which host.
package struct FleetLogin: Sendable, Hashable {
    package var time: Date
    package var source: String?
    package var host: String
}

/// The records arriving in a collector's directory, each host's files followed apart
/// (``DirectoryFollower``), merged in the order they were received, and judged against the whole
/// fleet (``FleetJudge``): what the alert service reads on a collector (docs/fleet.md).
///
/// What came before is history, learned and never returned: a host's records up to the position
/// an earlier run stored for it, and, for a host with none, the records received before `since`
/// (when the service first read the fleet). History is read at the start, in the same merged
/// order, so the fleet's verdicts on the first new records know everything before them.
///
/// Not `Sendable`: it owns journal handles.
package final class FleetRecordFeed {
    private let follower: DirectoryFollower
    private let writer: TrustedJournalWriter
    private var judge: FleetJudge
    private var seen = SeenRecords()
    /// Per host, the position of an earlier run, until its files are read past it.
    private var resumeAfter: [String: FleetPosition]
    private let since: Date
    /// Each host's next record, read ahead and not yet handled, with whether it is history.
    private var heads = MergeHeads<String, (record: FleetRecord, history: Bool)>()
    /// Each account's latest login by a trusted sender.
    private var logins: [String: FleetLogin] = [:]
    /// Whether the last call read every host's files to their end: the directory is listed
    /// again before the next.
    private var drained = false

    /// Follows `directory`'s files of every sender from their first entry, reading `writer`'s
    /// entries, judging with `settings`; `positions` and `since` say what is history.
    package init(
        directory: String, writer: TrustedJournalWriter = .collected, settings: VerdictSettings,
        positions: [String: FleetPosition], since: Date
    ) throws {
        follower = try DirectoryFollower(directory: directory, host: nil, start: .oldest)
        self.writer = writer
        judge = FleetJudge(settings: settings)
        resumeAfter = positions
        self.since = since
    }

    /// Up to `limit` records that are not history, the earliest received first (a tie by host,
    /// then seq), each judged after everything before it; the history met on the way is learned.
    /// At most `budget` records are handled in one call, history included, so that a long
    /// history is learned over several calls and the caller gets on with its other work in
    /// between. Empty when nothing new has arrived (or only history was handled).
    package func next(limit: Int, budget: Int = .max) throws -> [FleetRecord] {
        if drained {
            follower.refresh()
            drained = false
        }
        // Every host read ahead, once a call; then only the host whose record was taken.
        var series: [String: FollowedSeries] = [:]
        for stream in follower.streams {
            guard let host = stream.sender else { continue }
            series[host] = stream
            if !heads.holds(host) { try readAhead(stream, host: host) }
        }
        var records: [FleetRecord] = []
        var handled = 0
        while records.count < limit && handled < budget {
            guard let (host, head) = heads.popFirst() else {
                drained = true
                break
            }
            if let stream = series[host] { try readAhead(stream, host: host) }
            handled += 1
            var record = head.record
            let entry = record.entry
            if head.history {
                judge.learn(entry)
            } else {
                record.entry.record = judge.judged(entry)
                if entry.record.signal == .userLoggedIn, let user = entry.record.user {
                    record.previousLogin = logins[user]
                }
                records.append(record)
            }
            remember(entry)
        }
        return records
    }

    /// Holds the next record of `series` (sender `host`) as its head, if its files have one now.
    private func readAhead(_ series: FollowedSeries, host: String) throws {
        if let head = try read(series, host: host) { heads.put(head, MergeKey(head.record.entry.record), of: host) }
    }

    /// The next record of `series` (sender `host`), with whether it is history; `nil` at the end
    /// of its files for now. Entries that are no record of `writer`, and records read already
    /// (an uploader's repeats), are passed over.
    private func read(_ series: FollowedSeries, host: String) throws -> (record: FleetRecord, history: Bool)? {
        while let (fields, reader) = try series.next() {
            guard let written = reader.realtime, let cursor = reader.cursor,
                var record = AuditJournal.record(fromEntry: fields, written: written, writer: writer)
            else { continue }
            record.host = host
            guard seen.first(record) else { continue }
            let position = FleetPosition(cursor: cursor, realtime: Microseconds.from(written))
            var history = record.received < since
            if let earlier = resumeAfter[host] {
                if reader.isAt(cursor: earlier.cursor) {
                    resumeAfter[host] = nil
                    history = true
                } else if position.realtime > earlier.realtime {
                    // Past it (the entry there is gone): this one is new.
                    resumeAfter[host] = nil
                    history = false
                } else {
                    history = true
                }
            }
            let entry = JournalActivityEntry(record: record, fields: fields)
            return (FleetRecord(entry: entry, previousLogin: nil, position: position), history)
        }
        return nil
    }

    /// Notes a trusted login as its account's latest.
    private func remember(_ entry: JournalActivityEntry) {
        let record = entry.record
        guard entry.trusted, record.signal == .userLoggedIn, let user = record.user, let host = record.host else {
            return
        }
        logins[user] = FleetLogin(time: record.time ?? record.received, source: record.remoteAddr, host: host)
    }
}
