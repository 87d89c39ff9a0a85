import TickwireCore

extension TwilioPayload {
    /// An incoming message (twilio.md §3).
    func inboundMessage(_ n: Normalization) -> Event {
        var draft = EventDraft(
            type: .messageReceived, subject: messageID,
            native: NativeNames(eventType: "incoming_message", status: form["MessageType"] ?? form["SmsStatus"]))
        var message = content()
        message.context = context()
        draft.data = [
            "message_id": JSONValue(messageID),
            "provider_message_ids": providerMessageIDs,
            "sender_name": JSONValue(form["ProfileName"]),
            "message": message.json,
            "referral": referral ?? .null,
            "raw": form.json,
        ]
        draft.data.merge(Party.fields(.sender, form["From"], userID: form["ExternalUserId"].flatMap { $0.isEmpty ? nil : $0 }))
        return n.event(draft)
    }

    func content() -> InboundMessage {
        let body = form["Body"].flatMap { $0.isEmpty ? nil : $0 }
        if let button = form["ButtonText"], !button.isEmpty {
            // A template quick-reply tap: the button's text, not `Body`, is what was chosen.
            var message = InboundMessage(type: "button")
            message.text = button
            message.reply = .compactObject(["title": .string(button), "payload": JSONValue(form["ButtonPayload"])])
            return message
        }
        if let latitude = form["Latitude"].flatMap(Double.init), let longitude = form["Longitude"].flatMap(Double.init),
            latitude.isFinite, longitude.isFinite
        {
            var message = InboundMessage(type: "location")
            message.location = .compactObject([
                "latitude": .double(latitude), "longitude": .double(longitude),
                "name": JSONValue(form["Label"]), "address": JSONValue(form["Address"]),
            ])
            return message
        }
        let media = self.media
        if let first = media.first {
            var message = InboundMessage(type: Self.mediaType(first.mimeType))
            message.url = first.url
            message.mimeType = first.mimeType
            message.caption = body
            if media.count > 1 {
                message.extra["media"] = .array(media.map { .compactObject(["url": .string($0.url), "mime_type": JSONValue($0.mimeType)]) })
            }
            return message
        }
        var message = InboundMessage(type: form["MessageType"].flatMap { $0.isEmpty ? nil : $0 } ?? "text")
        message.text = body
        return message
    }

    /// `MediaUrl{N}` / `MediaContentType{N}` for N below `NumMedia` (at most 10 on WhatsApp).
    var media: [(url: String, mimeType: String?)] {
        let count = min(Int(form["NumMedia"] ?? "") ?? 0, 10)
        guard count > 0 else { return [] }
        return (0..<count).compactMap { index in
            form["MediaUrl\(index)"].map { ($0, form["MediaContentType\(index)"]) }
        }
    }

    static func mediaType(_ mimeType: String?) -> String {
        let major = mimeType?.split(separator: "/").first.map(String.init) ?? ""
        return ["image", "video", "audio"].contains(major) ? major : "document"
    }

    /// A swipe-reply names our message's SID in `OriginalRepliedMessageSid`.
    func context() -> MessageContext {
        var context = MessageContext()
        context.replyTo = form["OriginalRepliedMessageSid"].flatMap { $0.isEmpty ? nil : $0 }
        context.forwarded = form["Forwarded"].flatMap { JSONValue.string($0).boolValue }
        context.frequentlyForwarded = form["FrequentlyForwarded"].flatMap { JSONValue.string($0).boolValue }
        return context
    }

    /// Click-to-WhatsApp ad fields (`ReferralBody`, `ReferralSourceUrl`, …) as one object.
    var referral: JSONValue? {
        let fields = form.pairs.filter { $0.name.hasPrefix("Referral") && $0.name.count > 8 }
        guard !fields.isEmpty else { return nil }
        // One sort for all of them (a repeated name keeps its last value), not an insert each.
        return .object(JSONObject(fields.map { (Self.snakeCase(String($0.name.dropFirst(8))), .string($0.value)) }))
    }

    /// `SourceUrl` → `source_url`, `CtwaClid` → `ctwa_clid`.
    static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase, !result.isEmpty { result.append("_") }
            result += character.lowercased()
        }
        return result
    }
}
