import Foundation

/// RFC 3339 timestamps in UTC with milliseconds, the only time format events carry.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        // The formatter truncates, and an epoch in ms divided by 1000 is often a hair below
        // the intended millisecond (1580227766370 ms → …26.3699999 s): round to the nearest
        // millisecond and format from the middle of it.
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        return Date(timeIntervalSince1970: (milliseconds + 0.5) / 1000).formatted(style)
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
