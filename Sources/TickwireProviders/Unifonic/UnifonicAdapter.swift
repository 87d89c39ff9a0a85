import Foundation
import TickwireCore

/// `provider: unifonic`: Unifonic Conversation API webhooks (delivery statuses and incoming
/// messages), flat JSON objects. Unifonic does not sign them: pair with `auth: token`
/// (custom header or `?token=`) or `auth: basic`.
public struct UnifonicAdapter: ProviderAdapter {
    public static let name = "unifonic"

    public init(config: NoOptions) {}

    public func normalize(_ request: WebhookRequest, channel: ChannelContext) throws(WebhookRejection) -> [Event] {
        try JSONBody.events(request, channel: channel, provider: "Unifonic") { body, n in
            [UnifonicPayload(body: body).event(n)]
        }
    }
}

/// One Unifonic notification (unifonic.md §2–§4).
struct UnifonicPayload {
    let body: JSONValue

    static let statuses: [String: MessageStatus] = [
        // Accepted by Meta, not yet on the handset.
        "message.sent_successfully_to_provider": .enqueued,
        "message.sent": .sent, "message.delivered": .delivered, "message.read": .read,
        "message.rejected": .failed, "message.failed": .failed, "message.deleted": .deleted,
    ]

    var eventType: String? { body["eventType"]?.nonEmptyString }
    var messageID: String? { body["messageId"]?.nonEmptyString }
    /// `timestamp` (the event at the provider), else `receivedAt` (when Unifonic logged it).
    var time: Date? { Timestamp.fromAny(body["timestamp"]) ?? Timestamp.fromAny(body["receivedAt"]) }
    /// `message.delivered` → `delivered`.
    var native: NativeNames {
        NativeNames(eventType: eventType, status: eventType.map { $0.hasPrefix("message.") ? String($0.dropFirst(8)) : $0 })
    }

    func event(_ n: Normalization) -> Event {
        guard let eventType, eventType.hasPrefix("message.") else {
            return n.unknown(raw: body, native: native, reason: eventType == nil ? "no eventType" : "unknown eventType")
        }
        var draft = eventType == "message.received" ? inbound() : status(eventType)
        // Unifonic names each notification; its docs samples repeat one eventId across
        // types, so the id keeps the type and time too.
        draft.extraIdentity = [body["eventId"]?.nonEmptyString]
        draft.identifyByContent(body)
        draft.data["conversation"] = body["conversationId"].map { .object(["id": $0]) } ?? .null
        draft.data["application_id"] = body["applicationId"] ?? .null
        draft.data["raw"] = body
        return n.event(draft)
    }

    func status(_ eventType: String) -> EventDraft {
        let status = Self.statuses[eventType]
        var draft = EventDraft(
            type: status.map(EventType.init(status:)) ?? .messageOther, subject: messageID, native: native, providerTime: time)
        draft.data = [
            "message_id": JSONValue(messageID),
            "provider_message_ids": .distinctStrings([messageID]),
            "status": JSONValue(status?.rawValue),
            "reference_id": body["referenceId"] ?? .null,
        ]
        // `deleted` is about the user's own message (as Gupshup's): the phone is its sender,
        // under `sender` as in `message.received`, or wherever Unifonic puts it.
        if status == .deleted {
            draft.data.merge(Party.fields(.sender, body["sender"]?["contact"]?.nonEmptyString ?? body["recipient"]?["contact"]?.stringValue))
        } else {
            draft.data.merge(Party.fields(.recipient, body["recipient"]?["contact"]?.stringValue))
        }
        if status == .failed {
            let reason = body["failReason"]?.nonEmptyString
            draft.data["error"] = FailureReason(code: reason, title: reason ?? "rejected", detail: nil).json
        }
        return draft
    }

    func inbound() -> EventDraft {
        var draft = EventDraft(type: .messageReceived, subject: messageID, native: native, providerTime: time)
        var message = Self.content(body["content"] ?? .null)
        if let parent = body["parentMessageId"]?.nonEmptyString {
            var context = MessageContext()
            context.replyTo = parent
            message.context = context
        }
        let sender = body["sender"] ?? .null
        draft.data = [
            "message_id": JSONValue(messageID),
            "provider_message_ids": .distinctStrings([messageID]),
            "sender_name": sender["name"] ?? .null,
            "message": message.json,
        ]
        draft.data.merge(Party.fields(.sender, sender["contact"]?.stringValue))
        return draft
    }

    /// `content {type, text, attachments[]}`; a tapped option is `{type: "option", option:
    /// {text, value}}` in `attachments`. Media and location shapes are undocumented: read
    /// the usual names, and keep `raw`.
    static func content(_ content: JSONValue) -> InboundMessage {
        let attachment = content["attachments"]?[0] ?? .null
        var message = InboundMessage(type: content["type"]?.nonEmptyString ?? "unknown")
        message.text = content["text"]?.text
        if let option = attachment["option"]?.nonEmptyObject {
            message.reply = .compactObject(["title": option["text"] ?? .null, "payload": option["value"] ?? .null])
        }
        let media = attachment[message.type]?.nonEmptyObject ?? attachment
        message.url = content["url"]?.nonEmptyString ?? media["url"]?.nonEmptyString
        message.mimeType = content["mimeType"]?.nonEmptyString ?? media["mimeType"]?.nonEmptyString ?? media["contentType"]?.nonEmptyString
        message.caption = content["caption"]?.nonEmptyString ?? media["caption"]?.nonEmptyString
        message.filename = media["fileName"]?.nonEmptyString ?? media["filename"]?.nonEmptyString
        message.location = (content["location"] ?? attachment["location"])?.nonEmptyObject
        return message
    }
}
