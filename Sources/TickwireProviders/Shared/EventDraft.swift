import Foundation
import TickwireCore

/// An event before its id, time and common `data` members are settled.
///
/// Adapters fill in what they read from the payload; `Normalization.event(_:)` adds what is
/// the same for every provider, so that ids and times follow one rule everywhere.
struct EventDraft {
    var type: EventType
    /// The message id the event is about (the user's phone for user events).
    var subject: String?
    /// The message id that identifies the notification (usually `subject`).
    var messageID: String?
    /// The provider's own words (`data.native`).
    var native: NativeNames
    /// When the provider says the event happened (Gupshup `ts`, Meta `timestamp`).
    var providerTime: Date?
    /// When the provider sent the callback (Gupshup's envelope `timestamp`): a fallback for
    /// `time`, never part of the id because it may change between retries.
    var envelopeTime: Date?
    /// More fields that tell two notifications apart when message id, status and time do
    /// not (Twilio's `ErrorCode`, a template's content digest).
    var extraIdentity: [String?] = []
    var data: JSONObject = [:]

    init(
        type: EventType, subject: String?, messageID: String? = nil, native: NativeNames,
        providerTime: Date? = nil, envelopeTime: Date? = nil, data: JSONObject = [:]
    ) {
        self.type = type
        self.subject = subject
        self.messageID = messageID ?? subject
        self.native = native
        self.providerTime = providerTime
        self.envelopeTime = envelopeTime
        self.data = data
    }

    /// Without a message id, a notification is known by its content, less what changes
    /// between retries (else all such notifications of a kind would share one id). Built
    /// only then: most notifications name their message.
    mutating func identifyByContent(_ content: @autoclosure () -> JSONValue) {
        if messageID == nil { extraIdentity.append(content().serializedString()) }
    }
}

/// The provider's own name for the event family and status (`data.native`).
struct NativeNames {
    var eventType: String?
    var status: String?

    var json: JSONValue {
        .compactObject(["event_type": JSONValue(eventType), "status": JSONValue(status)])
    }
}

/// One request being turned into events: the channel and the time it arrived.
struct Normalization {
    let channel: ChannelContext
    let receivedAt: Date

    init(channel: ChannelContext, request: WebhookRequest) {
        self.channel = channel
        self.receivedAt = request.receivedAt
    }

    /// Members kept even when null: the contract names them for every message event, and a
    /// null says "the provider gave no phone number" (a business-scoped id, a masked number);
    /// a `raw` null is a body that was JSON `null`.
    private static let explicitNullKeys: Set<String> = ["sender", "recipient", "raw"]

    func event(_ draft: EventDraft) -> Event {
        let (time, source): (Date, String) =
            if let t = draft.providerTime { (t, "provider") }
            else if let t = draft.envelopeTime { (t, "envelope") }
            else { (receivedAt, "received_at") }
        var data = draft.data.filter { !$0.value.isNull || Self.explicitNullKeys.contains($0.key) }
        data["native"] = draft.native.json
        data["received_at"] = .string(Timestamp.format(receivedAt))
        data["time_source"] = .string(source)
        if let subject = draft.subject, data["message_id"] == nil, draft.type.isMessageEvent {
            data["message_id"] = .string(subject)
        }
        let id = EventID.make(
            [channel.org, channel.channel, channel.provider, draft.type.rawValue, draft.messageID,
             draft.native.status, draft.providerTime.map(Timestamp.format)] + draft.extraIdentity)
        return Event(
            id: id, type: draft.type, time: time, subject: draft.subject,
            org: channel.org, channel: channel.channel, provider: channel.provider, data: data)
    }

    /// A payload that parses but is not understood: kept whole, never dropped.
    ///
    /// `identity` is what the id is derived from: the payload without fields that change
    /// between retries (Gupshup's envelope `timestamp`).
    func unknown(raw: JSONValue, identity: JSONValue? = nil, native: NativeNames = NativeNames(), reason: String) -> Event {
        var draft = EventDraft(type: .providerUnknown, subject: nil, native: native)
        draft.messageID = nil
        draft.identifyByContent(identity ?? raw)
        draft.data = ["raw": raw, "reason": .string(reason)]
        return event(draft)
    }

    /// Drops repeated events (the same message twice in one Meta batch): the journal would
    /// store them once anyway, and the acknowledgement should not list an id twice.
    static func unique(_ events: [Event]) -> [Event] {
        // Most webhooks carry one event: no set to build.
        guard events.count > 1 else { return events }
        var seen = Set<String>()
        return events.filter { seen.insert($0.id).inserted }
    }
}

extension EventType {
    /// Events about one message (they carry `data.message_id`).
    var isMessageEvent: Bool { rawValue.hasPrefix("message.") }
}
