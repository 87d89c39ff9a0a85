import TickwireCore

extension GupshupPayload {
    /// `type: message`: a user wrote to the business (gupshup.md §2).
    func inboundMessage(_ payload: JSONValue, _ n: Normalization) -> Event {
        guard let native = payload["type"]?.nonEmptyString else {
            return unknown("message without payload.type", n, native: NativeNames(eventType: "message"))
        }
        let id = payload["id"]?.nonEmptyString
        var draft = EventDraft(
            type: .messageReceived, subject: id, native: NativeNames(eventType: "message", status: native),
            envelopeTime: envelopeTime)
        draft.identifyByContent(identity)
        var message = Self.content(native, payload["payload"] ?? .null)
        message.context = Self.context(payload["context"])
        let sender = payload["sender"] ?? .null
        draft.data = [
            "message_id": JSONValue(id),
            "provider_message_ids": .distinctStrings([id]),
            "sender_name": sender["name"] ?? .null,
            "message": message.json,
            "raw": body,
        ]
        draft.data.merge(Party.fields(
            .sender, sender["phone"]?.nonEmptyString ?? payload["source"]?.stringValue, userID: sender["userId"]?.nonEmptyString))
        return n.event(draft)
    }

    /// The inner `payload.payload` by `payload.type`; unknown types keep their native name.
    static func content(_ native: String, _ inner: JSONValue) -> InboundMessage {
        // Template quick-reply taps come as `text` (or `quick_reply`) with an inner
        // `type: "button"`, whatever the outer type (gupshup.md §2).
        if inner["type"]?.stringValue == "button" {
            var message = InboundMessage(type: "button")
            message.text = inner["text"]?.text
            message.reply = .compactObject(["title": inner["text"] ?? .null, "payload": inner["postbackText"] ?? .null])
            return message
        }
        var message = InboundMessage(type: native == "file" ? "document" : native)
        switch native {
        case "image", "video", "audio", "file", "sticker", "document":
            message.url = inner["url"]?.nonEmptyString
            message.caption = inner["caption"]?.nonEmptyString
            message.mimeType = inner["contentType"]?.nonEmptyString
            message.filename = inner["name"]?.nonEmptyString
            message.extra["url_expires_at"] = Timestamp.fromEpoch(inner["urlExpiry"]).map { .string(Timestamp.format($0)) }
        case "location":
            message.location = .compactObject([
                "latitude": inner["latitude"] ?? .null, "longitude": inner["longitude"] ?? .null,
                "name": inner["name"] ?? .null, "address": inner["address"] ?? .null, "url": inner["url"] ?? .null,
            ])
        case "contact", "contacts":
            message.contacts = inner["contacts"] ?? (inner.nonEmptyObject.map { .array([$0]) })
        case "button_reply", "list_reply", "quick_reply":
            message.text = inner["title"]?.text ?? inner["text"]?.text
            message.reply = .compactObject([
                "id": inner["id"] ?? .null, "title": inner["title"] ?? inner["text"] ?? .null,
                "payload": inner["postbackText"] ?? .null, "description": inner["description"] ?? .null,
            ])
        default:
            message.text = inner["text"]?.text
        }
        return message
    }

    /// `context {id (WhatsApp), gsId (Gupshup)}` of a reply: the Gupshup id comes first, as
    /// in status events (Glific takes `gsId || gs_id || id`).
    static func context(_ context: JSONValue?) -> MessageContext? {
        guard let context, context.objectValue != nil else { return nil }
        let gsID = context["gsId"]?.nonEmptyString ?? context["gs_id"]?.nonEmptyString
        let id = context["id"]?.nonEmptyString
        var result = MessageContext()
        result.replyTo = gsID ?? id
        result.replyToIDs = [gsID, id].compactMap { $0 }
        result.forwarded = context["forwarded"]?.boolValue
        result.frequentlyForwarded = context["frequently_forwarded"]?.boolValue
        return result
    }
}
