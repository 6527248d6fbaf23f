import AuthSignalProtocol
package import Foundation

/// Times as admins type them (as `journalctl --since` and `ausearch --start` accept): RFC 3339,
/// `now`, `today`, `yesterday`, `recent` (10 minutes ago), `this-week` (Monday 00:00), relative
/// `-1h`, `-30min`, `-2d`, and `2 hours ago`. Calendar words use the local time zone.
package enum TimeExpression {
    /// Parses `text` relative to `now`.
    package static func parse(_ text: String, now: Date = Date(), calendar: Calendar = .current) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let date = RFC3339.parse(text) { return date }
        let midnight = calendar.startOfDay(for: now)
        switch trimmed {
        case "now": return now
        case "today": return midnight
        case "yesterday": return calendar.date(byAdding: .day, value: -1, to: midnight)
        case "tomorrow": return calendar.date(byAdding: .day, value: 1, to: midnight)
        case "recent": return now.addingTimeInterval(-600)
        case "this-week":
            var monday = calendar
            monday.firstWeekday = 2
            return monday.dateInterval(of: .weekOfYear, for: now)?.start
        default: break
        }
        var amount: String
        var unit: String
        if trimmed.hasPrefix("-") || trimmed.hasPrefix("+") {
            let body = trimmed.dropFirst()
            let digits = body.prefix { $0.isNumber }
            amount = String(digits)
            unit = String(body.dropFirst(digits.count)).trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-") { amount = "-" + amount }
        } else if trimmed.hasSuffix(" ago") {
            let words = trimmed.dropLast(4).split(separator: " ")
            guard words.count == 2 else { return nil }
            amount = "-" + words[0]
            unit = String(words[1])
        } else {
            return nil
        }
        guard let count = Double(amount), let seconds = unitSeconds(unit) else { return nil }
        return now.addingTimeInterval(count * seconds)
    }

    private static func unitSeconds(_ unit: String) -> Double? {
        switch unit {
        case "s", "sec", "secs", "second", "seconds": 1
        case "m", "min", "mins", "minute", "minutes": 60
        case "h", "hour", "hours": 3600
        case "d", "day", "days": 86400
        case "w", "week", "weeks": 604_800
        default: nil
        }
    }
}
