/// Routes an org's events to one sink (`orgs.ORG.subscriptions[i]`).
///
/// Each subscription has its own cursor in the journal, so a slow sink only delays itself.
public struct Subscription: Sendable, Decodable, Equatable {
    public enum Start: String, Sendable, ConfigEnum {
        /// Only events journaled after the subscription first appears.
        case end
        /// Every event still in the journal.
        case beginning
    }

    /// Stable identity for the cursor: `org/name`, the name defaulting to the sink's.
    public var id: String { "\(org)/\(name)" }
    public var name: String
    public var org: String = ""
    public var sink: String
    /// Type globs (`message.*`, `*`); nil means every event.
    public var events: [EventPattern]?
    /// Channel names; nil means every channel of the org.
    public var channels: [String]?
    public var from: Start
    public var location: ConfigLocation

    enum CodingKeys: String, CodingKey { case name, sink, events, channels, from }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sink = try c.decode(String.self, forKey: .sink)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? sink
        try ConfigName.validate(name, what: "subscription")
        events = try c.decodeIfPresent([EventPattern].self, forKey: .events)
        channels = try c.decodeIfPresent([String].self, forKey: .channels)
        from = try c.decodeIfPresent(Start.self, forKey: .from) ?? .end
        location = decoder.configLocation
    }

    public init(name: String, org: String, sink: String, events: [EventPattern]? = nil, channels: [String]? = nil, from: Start = .end) {
        self.name = name
        self.org = org
        self.sink = sink
        self.events = events
        self.channels = channels
        self.from = from
        self.location = ConfigLocation(file: "", line: nil, path: "")
    }

    /// Whether this subscription takes `event`.
    public func matches(_ event: Event) -> Bool {
        event.org == org && takes(channel: event.channel) && (events?.contains { $0.matches(event.type) } ?? true)
    }

    /// Whether this subscription takes an event of the org on `channel` of `type`.
    public func matches(channel: String, type: String) -> Bool {
        takes(channel: channel) && (events?.contains { $0.matches(type) } ?? true)
    }

    private func takes(channel: String) -> Bool {
        channels?.contains(channel) ?? true
    }
}

/// An event type or a glob over event types: `message.read`, `message.*`, `*`.
public struct EventPattern: Sendable, Decodable, Equatable, CustomStringConvertible {
    public let description: String
    /// The known types it matches, worked out once: dispatchers test every event against
    /// every pattern, and the glob on strings showed in their profile.
    private let types: Set<EventType>

    public init(_ text: String) throws(ConfigIssue) {
        let known = EventType.allCases.map(\.rawValue)
        if text.hasSuffix("*") {
            let prefix = text.dropLast()
            guard prefix.isEmpty || prefix.hasSuffix("."), known.contains(where: { $0.hasPrefix(prefix) }) else {
                throw ConfigIssue("event pattern \"\(text)\" matches no event type")
            }
        } else {
            guard known.contains(text) else {
                throw ConfigIssue("unknown event type \"\(text)\" (known: \(known.joined(separator: ", ")))")
            }
        }
        description = text
        types = Set(EventType.allCases.filter { Self.matches(text, $0.rawValue) })
    }

    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func matches(_ type: EventType) -> Bool {
        types.contains(type)
    }

    /// For type names read back from the journal, which a newer version may have written.
    public func matches(_ type: String) -> Bool {
        Self.matches(description, type)
    }

    private static func matches(_ pattern: String, _ type: String) -> Bool {
        pattern.hasSuffix("*") ? type.hasPrefix(pattern.dropLast()) : type == pattern
    }
}
