import Foundation

/// RFC 3339 timestamps in UTC with milliseconds, the only time format events carry.
public enum Timestamp {
    /// `2026-01-02T03:04:05.370Z`. Written by hand: Foundation's formatter was a visible
    /// share of the webhook path's CPU, and this format never varies.
    public static func format(_ date: Date) -> String {
        // Rounded to the nearest millisecond: an epoch in ms divided by 1000 is often a hair
        // below the intended millisecond (1580227766370 ms → …26.3699999 s).
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, inDay) = floorDivision(milliseconds, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        var text = [UInt8]()
        text.reserveCapacity(24)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); text.append(UInt8(ascii: "-"))
        digits(month, 2); text.append(UInt8(ascii: "-"))
        digits(day, 2); text.append(UInt8(ascii: "T"))
        digits(inDay / 3_600_000, 2); text.append(UInt8(ascii: ":"))
        digits(inDay / 60_000 % 60, 2); text.append(UInt8(ascii: ":"))
        digits(inDay / 1000 % 60, 2); text.append(UInt8(ascii: "."))
        digits(inDay % 1000, 3); text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    /// Year, month and day of a day count since 1970-01-01 in the proleptic Gregorian
    /// calendar (H. Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public static func parse(_ text: String) -> Date? {
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: false).parse(text)
    }

    /// A provider's epoch time given in seconds or milliseconds, as a number or a numeric
    /// string: values above 10^11 are read as milliseconds (10^11 s is the year 5138).
    public static func fromEpoch(_ value: JSONValue?) -> Date? {
        guard let number = value?.doubleValue, number.isFinite, number > 0 else { return nil }
        let seconds = number > 1e11 ? number / 1000 : number
        guard seconds < 32_503_680_000 else { return nil }  // after year 3000: not a real time
        return Date(timeIntervalSince1970: seconds)
    }

    /// An epoch or an ISO 8601 date, whichever the value holds.
    public static func fromAny(_ value: JSONValue?) -> Date? {
        if let date = fromEpoch(value) { return date }
        guard let text = value?.stringValue else { return nil }
        return parse(text)
    }

    /// Milliseconds are the resolution events carry, so times are truncated to them.
    public static func truncatedToMilliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
}
