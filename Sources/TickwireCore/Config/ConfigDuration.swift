import Foundation

/// A duration written `100ms`, `5s`, `10m`, `24h` (or `1h30m`).
public struct ConfigDuration: Sendable, Equatable, Decodable, CustomStringConvertible {
    public var duration: Duration
    public var description: String

    public init(_ text: String) throws(ConfigIssue) {
        let units: [(suffix: String, value: Duration)] = [
            ("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600)), ("d", .seconds(86400)),
        ]
        var total = Duration.zero
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { throw ConfigIssue("expected a duration like 100ms, 5s, 10m or 24h, got an empty value") }
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isNumber })
            rest = rest.dropFirst(digits.count)
            guard let number = Int(digits),
                let unit = units.first(where: { rest.hasPrefix($0.suffix) && !(($0.suffix == "m") && rest.hasPrefix("ms")) })
            else {
                throw ConfigIssue("\"\(text)\" is not a duration: expected a number and a unit (ms, s, m, h, d), like 100ms, 5s, 10m or 24h")
            }
            rest = rest.dropFirst(unit.suffix.count)
            // Past this the arithmetic overflows (nanoseconds in an Int64 last 292 years).
            guard Double(number) * unit.value.secondsValue + total.secondsValue <= Self.maximum.secondsValue else {
                throw ConfigIssue("\"\(text)\" is too long: at most 36500d (100 years)")
            }
            total += unit.value * number
        }
        self.duration = total
        self.description = text
    }

    /// The longest duration a config may give.
    public static let maximum = Duration.seconds(36500 * 86400)

    public init(duration: Duration, description: String) {
        self.duration = duration
        self.description = description
    }

    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
}
