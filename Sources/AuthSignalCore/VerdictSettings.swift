package import AuthSignalProtocol
package import Foundation

/// How the daemon judges logins (`[Verdicts]` in authsignald.conf; docs/verdicts.md).
package struct VerdictSettings: Sendable, Hashable {
    /// The verdicts judged. `outside-hours` is judged only once ``hours`` is set.
    package var enabled = Set(VerdictCode.allCases)
    /// An IPv4 source is its address's network of this many bits (32: the address itself).
    package var ipv4Prefix = 24
    /// An IPv6 source is its address's network of this many bits (128: the address itself).
    package var ipv6Prefix = 64
    /// `first-seen-source` is judged once the account has logged in this many times…
    package var learnLogins = 5
    /// …or once the log's oldest record is this many days older than the login.
    package var learnDays = 14
    /// `success-after-failures`: at least this many failures…
    package var failureThreshold = 5
    /// …within this many seconds before the success.
    package var failureWindowSeconds = 600
    /// `system-account-login`: uids from 1 to this are system accounts (Debian's `SYS_UID_MAX`).
    package var systemUIDMax = 999
    /// `outside-hours`: when logins are expected; `nil` judges no login outside hours.
    package var hours: LoginHours?
    /// The time zone of ``hours``; `nil` for the host's.
    package var timeZone: String?

    /// The defaults.
    package init() {}

    /// Whether `code` is judged.
    package func judges(_ code: VerdictCode) -> Bool {
        enabled.contains(code) && (code != .outsideHours || hours != nil)
    }

    /// The time zone ``hours`` are read in.
    package var zone: TimeZone { timeZone.flatMap(TimeZone.init(identifier:)) ?? .current }
}

/// The hours when logins are expected: `Mon-Fri 07:00-19:00, Sat 09:00-13:00`. A range that ends
/// before it starts runs past midnight and belongs to the day it starts on.
package struct LoginHours: Sendable, Hashable, CustomStringConvertible {
    /// One day set and time range.
    package struct Span: Sendable, Hashable {
        /// Weekdays, 1 = Sunday … 7 = Saturday (`Calendar`'s numbering).
        package var days: Set<Int>
        /// Minutes after midnight, `start` inclusive, `end` exclusive (1440 for 24:00).
        package var start: Int
        package var end: Int
    }

    /// The spans, in the order written.
    package var spans: [Span]
    /// The text it was read from, for messages.
    package let description: String

    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// Reads `Mon-Fri 07:00-19:00, Sat 09:00-13:00`.
    /// - Throws: a message naming the part that is not understood.
    package init(parsing text: String) throws(LoginHoursError) {
        var spans: [Span] = []
        for part in text.split(separator: ",") {
            let words = part.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 2 else { throw LoginHoursError("expected DAYS HH:MM-HH:MM, got \"\(part)\"") }
            let days = try Self.days(words[0])
            let times = words[1].split(separator: "-")
            guard times.count == 2, let start = Self.minutes(times[0]), let end = Self.minutes(times[1]),
                start < 1440, start != end
            else { throw LoginHoursError("expected a time range such as 07:00-19:00, got \"\(words[1])\"") }
            spans.append(Span(days: days, start: start, end: end))
        }
        guard !spans.isEmpty else { throw LoginHoursError("expected at least one DAYS HH:MM-HH:MM") }
        self.spans = spans
        self.description = text.trimmingCharacters(in: .whitespaces)
    }

    /// `Mon`, `Mon-Fri` or `Fri-Mon` (wrapping), as weekday numbers.
    private static func days(_ word: Substring) throws(LoginHoursError) -> Set<Int> {
        let ends = word.lowercased().split(separator: "-").map(String.init)
        guard (1...2).contains(ends.count), let first = dayNames.firstIndex(of: ends[0]),
            let last = dayNames.firstIndex(of: ends[ends.count - 1])
        else { throw LoginHoursError("expected days such as Mon-Fri or Sat, got \"\(word)\"") }
        var days: Set<Int> = []
        var day = first
        while true {
            days.insert(day + 1)
            if day == last { break }
            day = (day + 1) % 7
        }
        return days
    }

    /// `HH:MM` as minutes after midnight; `24:00` is 1440.
    private static func minutes(_ text: Substring) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]),
            let minutes = Int(parts[1]), (0...24).contains(hours), (0..<60).contains(minutes),
            hours < 24 || minutes == 0
        else { return nil }
        return hours * 60 + minutes
    }

    /// Whether local time `weekday` (1 = Sunday) and `minute` after midnight lie in a span.
    package func contains(weekday: Int, minute: Int) -> Bool {
        let previous = (weekday + 5) % 7 + 1
        return spans.contains { span in
            if span.start < span.end {
                return span.days.contains(weekday) && minute >= span.start && minute < span.end
            }
            // Past midnight: the evening part on its own day, the morning part on the next.
            return (span.days.contains(weekday) && minute >= span.start)
                || (span.days.contains(previous) && minute < span.end)
        }
    }

    /// Whether `date` lies in a span, read in `zone` (daylight saving time included).
    package func contains(_ date: Date, in zone: TimeZone) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        return contains(weekday: parts.weekday ?? 1, minute: (parts.hour ?? 0) * 60 + (parts.minute ?? 0))
    }
}

/// Why a `Hours` value is not understood.
package struct LoginHoursError: Error, Sendable {
    /// What is wrong.
    package let message: String
    init(_ message: String) { self.message = message }
}
