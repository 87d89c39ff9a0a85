import Foundation

/// RFC 3339 timestamps in UTC with milliseconds, the only time format events carry.
public enum Timestamp {
    /// `2026-01-02T03:04:05.370Z`. Written by hand: Foundation's formatter was a visible
    /// share of the webhook path's CPU, and this format never varies.
    public static func format(_ date: Date) -> String {
        let (days, inDay) = daysAndMilliseconds(date)
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

    /// Exactly the form `format` writes, read without Foundation (the dispatchers and the
    /// status store read every event's times); nil for anything else.
    static func parseCanonical(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
                bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."),
                bytes[23] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ range: Range<Int>) -> Int64? {
                var value: Int64 = 0
                for index in range {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
                let minute = number(14..<16), let second = number(17..<19), let millisecond = number(20..<23),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
            else { return nil }
            let days = daysSinceEpoch(year: year, month: month, day: day)
            // February 30th and the like: not a date.
            guard civilDate(daysSinceEpoch: days) == (year, month, day) else { return nil }
            let milliseconds = days * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + millisecond
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
    }

    /// The inverse of `civilDate` (H. Hinnant's `days_from_civil`).
    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The UTC day `format` writes for `date`, as days since 1970-01-01 (for grouping by
    /// date without formatting).
    public static func day(of date: Date) -> Int64 {
        daysAndMilliseconds(date).days
    }

    /// Days since 1970-01-01 and milliseconds into that day, UTC.
    private static func daysAndMilliseconds(_ date: Date) -> (days: Int64, inDay: Int64) {
        // Within the years 0000–9999 that four digits can write (and an Int64 can hold): a
        // date from outside must not trap the process that formats it.
        let seconds = date.timeIntervalSince1970
        let bounded = seconds.isFinite ? min(max(seconds, -62_167_219_200), 253_402_300_799.999) : 0
        // Rounded to the nearest millisecond: an epoch in ms divided by 1000 is often a hair
        // below the intended millisecond (1580227766370 ms → …26.3699999 s).
        let milliseconds = Int64((bounded * 1000).rounded())
        return floorDivision(milliseconds, 86_400_000)
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

    /// An RFC 3339 time from outside (a provider, a query) from 1970 to 3000 (as `fromEpoch`);
    /// nil for anything else. Foundation's parser takes month 00 and year 0000, which roll
    /// back into year −1.
    public static func parse(_ text: String) -> Date? {
        guard let date = read(text), (0..<latestEpochSeconds).contains(date.timeIntervalSince1970) else { return nil }
        return date
    }

    /// A time this process wrote (a stored event's), whatever its year: what was stored
    /// must read back, including events stored before `parse` had its bounds.
    public static func read(_ text: String) -> Date? {
        parseCanonical(text)
            ?? (try? style.parse(text))
            ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: false).parse(text))
    }

    /// What `parse` takes, for error messages.
    public static let inputForm = "an RFC 3339 time between 1970 and 3000, like 2026-01-02T03:04:05Z"

    /// How far past the clock a time must be to be taken for one stamped by a clock set
    /// ahead, or misread: retention and the attempt log read such times as unknown, and the
    /// status store lists a message no later than this after its events were received.
    public static let clockSlack: TimeInterval = 3600

    /// 3000-01-01: later than any real event.
    private static let latestEpochSeconds: TimeInterval = 32_503_680_000

    /// A provider's epoch time given in seconds or milliseconds, as a number or a numeric
    /// string: values above 10^11 are read as milliseconds (10^11 s is the year 5138).
    public static func fromEpoch(_ value: JSONValue?) -> Date? {
        guard let number = value?.doubleValue, number.isFinite, number > 0 else { return nil }
        let seconds = number > 1e11 ? number / 1000 : number
        guard seconds < latestEpochSeconds else { return nil }
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
