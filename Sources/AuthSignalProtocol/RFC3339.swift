public import Foundation

/// RFC 3339 timestamps, as the protocol carries them: parsed with any offset and up to nine
/// fractional digits, formatted in UTC with microseconds (`2026-11-24T19:00:00.123456Z`).
public enum RFC3339 {
    /// Parses `text`, such as `2026-11-24T19:00:00.123Z` or `2026-11-24T20:00:00+01:00`.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + digits)] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += digits
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24,
            minute < 60, second < 61
        else { return nil }
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start, index - start <= 9 else { return nil }
        }
        var offset = 0
        if expect("Zz") {
            offset = 0
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let hours = number(2), expect(":"), let minutes = number(2), hours < 24, minutes < 60 else {
                return nil
            }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86400 + hour * 3600 + minute * 60 + min(second, 59) - offset
        // An offset can carry 0000-01-01 into year -1 or 9999-12-31 into 10000, which UTC
        // RFC 3339 cannot write: such a time is refused, not printed malformed.
        guard (earliestSecond...latestSecond).contains(seconds) else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in seconds since the epoch: the range a
    /// four-digit year can write.
    static let earliestSecond = daysFromCivil(year: 0, month: 1, day: 1) * 86400
    static let latestSecond = daysFromCivil(year: 9999, month: 12, day: 31) * 86400 + 86399

    /// Formats `date` in UTC with microseconds.
    public static func format(_ date: Date) -> String {
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return format(microseconds: microseconds)
    }

    /// Formats microseconds since the epoch in UTC with six fractional digits.
    public static func format(microseconds: Int64) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(27)
        append(microseconds: microseconds, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `date` as ``format(_:)`` writes it.
    public static func append(_ date: Date, to output: inout [UInt8]) {
        append(microseconds: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()), to: &output)
    }

    /// Appends microseconds since the epoch as ``format(microseconds:)`` writes them, digit by
    /// digit: streaming records formats two times per record.
    public static func append(microseconds: Int64, to output: inout [UInt8]) {
        let (seconds, fraction) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        var wholeSeconds = Int(seconds)
        var micros = Int(fraction)
        if micros < 0 {
            micros += 1_000_000
            wholeSeconds -= 1
        }
        let (days, secondOfDay) = floorDivision(wholeSeconds, 86400)
        let (year, month, day) = civilFromDays(days)
        if year < 0 { output.append(UInt8(ascii: "-")) }
        appendDigits(abs(year), 4, to: &output)
        output.append(UInt8(ascii: "-"))
        appendDigits(month, 2, to: &output)
        output.append(UInt8(ascii: "-"))
        appendDigits(day, 2, to: &output)
        output.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, 2, to: &output)
        output.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, 2, to: &output)
        output.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, 2, to: &output)
        output.append(UInt8(ascii: "."))
        appendDigits(micros, 6, to: &output)
        output.append(UInt8(ascii: "Z"))
    }

    /// Appends a non-negative `value` in decimal, zero-padded to at least `width` digits.
    private static func appendDigits(_ value: Int, _ width: Int, to output: inout [UInt8]) {
        var divisor = 1
        var digits = 1
        while digits < width || value / divisor >= 10 {
            divisor *= 10
            digits += 1
        }
        while divisor > 0 {
            output.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    private static func floorDivision(_ value: Int, _ divisor: Int) -> (Int, Int) {
        let quotient = value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
        return (quotient, value - quotient * divisor)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
