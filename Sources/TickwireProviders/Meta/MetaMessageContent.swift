import TickwireCore

/// `data.message` from a Meta message object: its `type` and the object named by it.
enum MetaMessageContent {
    static let mediaTypes: Set<String> = ["image", "video", "audio", "document", "sticker", "voice"]

    static func content(_ item: JSONValue) -> InboundMessage {
        let native = item["type"]?.stringValue ?? "unknown"
        let body = item[native] ?? .null
        var message = InboundMessage(type: native)
        switch native {
        case "text":
            message.text = body["body"]?.text
        case _ where mediaTypes.contains(native):
            media(body, into: &message)
        case "location":
            message.location = .compactObject([
                "latitude": body["latitude"] ?? .null, "longitude": body["longitude"] ?? .null,
                "name": body["name"] ?? .null, "address": body["address"] ?? .null, "url": body["url"] ?? .null,
            ])
        case "contacts":
            message.contacts = body.arrayValue.map(JSONValue.array)
        case "interactive":
            interactive(body, into: &message)
        case "button":
            // A template quick-reply tap.
            message.text = body["text"]?.text
            message.reply = .compactObject(["title": body["text"] ?? .null, "payload": body["payload"] ?? .null])
        case "reaction":
            let emoji = body["emoji"]?.nonEmptyString
            message.extra["reaction"] = .compactObject([
                "message_id": body["message_id"] ?? .null, "emoji": JSONValue(emoji),
                // An empty or missing emoji takes a reaction back.
                "removed": .bool(emoji == nil),
            ])
        case "order":
            message.text = body["text"]?.nonEmptyString
            message.extra["order"] = body
        case "system":
            message.text = body["body"]?.text
            message.extra["system"] = body
        case "unsupported":
            message.extra["unsupported_type"] = body["type"] ?? .null
        case "edit":
            edit(body, into: &message)
        default:
            message.text = body["body"]?.text
        }
        return message
    }

    /// Media is fetched later by `media_id` (with the app's token); newer payloads add a `url`.
    private static func media(_ body: JSONValue, into message: inout InboundMessage) {
        if message.type == "voice" {  // legacy on-premises name for a voice note
            message.type = "audio"
            message.extra["voice"] = true
        }
        message.url = body["url"]?.nonEmptyString
        message.mimeType = body["mime_type"]?.nonEmptyString
        message.caption = body["caption"]?.nonEmptyString
        message.filename = body["filename"]?.nonEmptyString
        message.extra["media_id"] = body["id"] ?? .null
        message.extra["sha256"] = body["sha256"] ?? .null
        if let voice = body["voice"]?.boolValue { message.extra["voice"] = .bool(voice) }
        if let animated = body["animated"]?.boolValue { message.extra["animated"] = .bool(animated) }
    }

    /// Button and list replies and Flow completions take the interactive subtype as their
    /// type, as Gupshup's v2 callbacks name them (`button_reply`, `list_reply`, `nfm_reply`).
    private static func interactive(_ body: JSONValue, into message: inout InboundMessage) {
        guard let kind = body["type"]?.nonEmptyString else { return }
        let reply = body[kind] ?? .null
        message.type = kind
        switch kind {
        case "button_reply", "list_reply":
            message.text = reply["title"]?.text
            message.reply = .compactObject([
                "id": reply["id"] ?? .null, "title": reply["title"] ?? .null, "description": reply["description"] ?? .null,
            ])
        case "nfm_reply":
            message.text = reply["body"]?.text
            let json = reply["response_json"]?.stringValue
            // `response_json` is JSON in a string; it may hold an array, or not parse at all.
            let response = json.flatMap { try? JSONValue.parse($0) }
            message.extra["flow"] = .compactObject([
                "name": reply["name"] ?? .null, "body": reply["body"] ?? .null,
                "response": response ?? JSONValue(json), "response_json": JSONValue(json),
            ])
        default:
            message.extra["interactive"] = body
        }
    }

    /// An edited message: the new content, with the edited message as the context.
    private static func edit(_ body: JSONValue, into message: inout InboundMessage) {
        let edited = content(body["message"] ?? .null)
        message.text = edited.text
        message.url = edited.url
        message.mimeType = edited.mimeType
        message.caption = edited.caption
        message.filename = edited.filename
        message.extra = edited.extra
        message.extra["edited_type"] = .string(edited.type)
        message.extra["original_message_id"] = body["original_message_id"] ?? .null
        var context = MessageContext()
        context.replyTo = body["original_message_id"]?.nonEmptyString
        message.context = context
    }

    /// `context {from, id}` of a reply; forwarded messages have a context without `id`.
    /// Gupshup v3 adds `gs_id` (its own id of our message, the one its status events use).
    static func context(_ context: JSONValue?, gupshupIDs: Bool) -> MessageContext? {
        guard let context, context.objectValue != nil else { return nil }
        let id = context["id"]?.nonEmptyString
        let gsID = gupshupIDs ? context["gs_id"]?.nonEmptyString : nil
        let metaID = gupshupIDs ? context["meta_msg_id"]?.nonEmptyString : nil
        var result = MessageContext()
        result.replyTo = gsID ?? id
        var seen = Set<String>()
        result.replyToIDs = [gsID, id, metaID].compactMap { $0 }.filter { seen.insert($0).inserted }
        result.forwarded = context["forwarded"]?.boolValue
        result.frequentlyForwarded = context["frequently_forwarded"]?.boolValue
        result.extra["referred_product"] = context["referred_product"]
        return result
    }
}
