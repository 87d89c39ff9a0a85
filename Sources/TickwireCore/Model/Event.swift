import Foundation

/// One normalized event: a CloudEvents 1.0 event with Tickwire's extension attributes.
///
/// Events are values: adapters make them, the journal stores their JSON form, sinks get
/// them back unchanged.
public struct Event: Sendable, Hashable {
    /// Deterministic: the same provider notification always yields the same id (`EventID`).
    public var id: String
    public var type: EventType
    /// The provider's own time of the event.
    public var time: Date
    /// The message id the event is about (the user's phone for user events).
    public var subject: String?
    public var org: String
    public var channel: String
    public var provider: String
    /// The `data` object (DESIGN §2): message ids, status, native names, raw payload, …
    public var data: [String: JSONValue]

    public init(
        id: String, type: EventType, time: Date, subject: String?,
        org: String, channel: String, provider: String, data: [String: JSONValue]
    ) {
        self.id = id
        self.type = type
        self.time = time
        self.subject = subject
        self.org = org
        self.channel = channel
        self.provider = provider
        self.data = data
    }

    /// `/orgs/{org}/channels/{channel}`
    public var source: String { "/orgs/\(org)/channels/\(channel)" }

    /// The message status this event reports, if it is an outbound status event.
    public var status: MessageStatus? { data["status"]?.stringValue.flatMap(MessageStatus.init(rawValue:)) }
}

// MARK: - CloudEvents JSON format

extension Event {
    public static let specVersion = "1.0"

    /// The structured-mode CloudEvents JSON object.
    public var cloudEvent: JSONValue {
        var object: [String: JSONValue] = [
            "specversion": .string(Event.specVersion),
            "id": .string(id),
            "source": .string(source),
            "type": .string(type.rawValue),
            "time": .string(Timestamp.format(time)),
            "datacontenttype": "application/json",
            "org": .string(org),
            "channel": .string(channel),
            "provider": .string(provider),
            "data": .object(data),
        ]
        if let subject { object["subject"] = .string(subject) }
        return .object(object)
    }

    /// Reads an event back from its CloudEvents JSON object.
    public init(cloudEvent value: JSONValue) throws {
        func text(_ key: String) throws -> String {
            guard let s = value[key]?.stringValue else { throw EventDecodingError.missing(key) }
            return s
        }
        guard let type = EventType(rawValue: try text("type")) else { throw EventDecodingError.missing("type") }
        guard let time = Timestamp.parse(try text("time")) else { throw EventDecodingError.missing("time") }
        self.init(
            id: try text("id"), type: type, time: time, subject: value["subject"]?.stringValue,
            org: try text("org"), channel: try text("channel"), provider: try text("provider"),
            data: value["data"]?.objectValue ?? [:]
        )
    }

    public init(cloudEventJSON bytes: some Collection<UInt8>) throws {
        try self.init(cloudEvent: try JSONValue.parse(bytes))
    }
}

public enum EventDecodingError: Error, CustomStringConvertible {
    case missing(String)
    public var description: String {
        switch self {
        case .missing(let key): "stored event has no valid \"\(key)\""
        }
    }
}
