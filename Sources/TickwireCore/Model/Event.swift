import Foundation

/// One normalized event: a CloudEvents 1.0 event with Tickwire's extension attributes.
///
/// Events are values: adapters make them, the journal stores their JSON form, sinks get
/// them back unchanged.
public struct Event: Sendable, Hashable {
    /// Deterministic: the same provider notification always yields the same id (`EventID`).
    public var id: String { didSet { storedJSON = nil } }
    public var type: EventType { didSet { storedJSON = nil } }
    /// The provider's own time of the event.
    public var time: Date { didSet { storedJSON = nil } }
    /// The message id the event is about (the user's phone for user events).
    public var subject: String? { didSet { storedJSON = nil } }
    public var org: String { didSet { storedJSON = nil } }
    public var channel: String { didSet { storedJSON = nil } }
    public var provider: String { didSet { storedJSON = nil } }
    /// The `data` object (DESIGN §2): message ids, status, native names, raw payload, …
    public var data: JSONObject { didSet { storedJSON = nil } }
    /// The CloudEvents JSON this event was read from (the journal's copy), so that sinks
    /// that forward JSON do not serialize it again; any change to the event drops it. Not
    /// part of the event's identity.
    public private(set) var storedJSON: [UInt8]?
    /// The provider's request this event came from, byte for byte (for forwarding in the
    /// provider's own format). Kept beside the event, not in its CloudEvents form.
    public var raw: RawPayload?

    public init(
        id: String, type: EventType, time: Date, subject: String?,
        org: String, channel: String, provider: String, data: JSONObject
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

    public static func == (lhs: Event, rhs: Event) -> Bool {
        lhs.id == rhs.id && lhs.type == rhs.type && lhs.time == rhs.time && lhs.subject == rhs.subject
            && lhs.org == rhs.org && lhs.channel == rhs.channel && lhs.provider == rhs.provider && lhs.data == rhs.data
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
    }

    /// The message status this event reports, if it is an outbound status event.
    public var status: MessageStatus? { data["status"]?.stringValue.flatMap(MessageStatus.init(rawValue:)) }
}

/// A provider request's body and content type, exactly as received.
public struct RawPayload: Sendable, Hashable {
    public var contentType: String?
    public var body: [UInt8]

    public init(contentType: String?, body: [UInt8]) {
        self.contentType = contentType
        self.body = body
    }
}

// MARK: - CloudEvents JSON format

extension Event {
    public static let specVersion = "1.0"

    /// The structured-mode CloudEvents JSON text (compact, sorted keys).
    public var cloudEventBytes: [UInt8] { storedJSON ?? cloudEvent.serializedBytes() }

    /// The structured-mode CloudEvents JSON object.
    public var cloudEvent: JSONValue {
        // Listed in name order, so that JSONObject takes them without sorting.
        var members: [JSONObject.Member] = [
            ("channel", .string(channel)),
            ("data", .object(data)),
            ("datacontenttype", "application/json"),
            ("id", .string(id)),
            ("org", .string(org)),
            ("provider", .string(provider)),
            ("source", .string(source)),
            ("specversion", .string(Event.specVersion)),
        ]
        if let subject { members.append(("subject", .string(subject))) }
        members.append(("time", .string(Timestamp.format(time))))
        members.append(("type", .string(type.rawValue)))
        return .object(JSONObject(members))
    }

    /// Reads an event back from its CloudEvents JSON object.
    public init(cloudEvent value: JSONValue) throws {
        func text(_ key: String) throws -> String {
            guard let s = value[key]?.stringValue else { throw EventDecodingError.missing(key) }
            return s
        }
        guard let type = EventType(rawValue: try text("type")) else { throw EventDecodingError.missing("type") }
        // Any time this process wrote: a stored event must always read back.
        guard let time = Timestamp.read(try text("time")) else { throw EventDecodingError.missing("time") }
        self.init(
            id: try text("id"), type: type, time: time, subject: value["subject"]?.stringValue,
            org: try text("org"), channel: try text("channel"), provider: try text("provider"),
            data: value["data"]?.objectValue ?? [:]
        )
    }

    /// The event with its CloudEvents JSON kept (as the journal wrote it), so that sinks
    /// reuse those bytes instead of serializing again.
    public func keepingCloudEventBytes() -> Event {
        guard storedJSON == nil else { return self }
        var copy = self
        copy.storedJSON = cloudEvent.serializedBytes()
        return copy
    }

    public init(cloudEventJSON bytes: some Collection<UInt8>) throws {
        let bytes = Array(bytes)
        try self.init(cloudEvent: try JSONValue.parseStored(bytes))
        storedJSON = bytes
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
