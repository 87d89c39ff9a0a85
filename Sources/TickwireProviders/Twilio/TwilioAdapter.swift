import TickwireCore

/// `provider: twilio`: Twilio's WhatsApp status callbacks and incoming-message webhooks,
/// both form-encoded. Pair it with `auth: {type: twilio}` and the channel's `public_url`.
public struct TwilioAdapter: ProviderAdapter {
    public static let name = "twilio"
    public static let mediaTypes = ["application/x-www-form-urlencoded"]

    public init(config: NoOptions) {}

    public func normalize(_ request: WebhookRequest, channel: ChannelContext) throws(WebhookRejection) -> [Event] {
        guard !request.body.isEmpty else { throw .badRequest("empty body: expected Twilio's form fields") }
        guard let form = FormBody(request.body) else {
            throw .badRequest("body is not application/x-www-form-urlencoded (bad %-escape or not UTF-8)")
        }
        return [TwilioPayload(form: form).event(Normalization(channel: channel, request: request))]
    }

    /// An incoming message is answered with empty TwiML: Twilio logs error 12300 for a JSON
    /// answer (twilio.md §4). Status callbacks take the JSON acknowledgement.
    public func acknowledgement(for request: WebhookRequest, eventIDs: [String]) -> WebhookResponse {
        if let form = FormBody(request.body), form["MessageStatus"] == nil {
            return WebhookResponse(
                status: 200, contentType: "text/xml",
                body: Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".utf8))
        }
        return .json(["accepted": .int(Int64(eventIDs.count)), "ids": .array(eventIDs.map(JSONValue.string))])
    }
}

/// One Twilio callback, told apart by content: a status callback has `MessageStatus`, an
/// incoming message has `SmsStatus=received` (or a `Body`/`NumMedia`) and no `MessageStatus`.
struct TwilioPayload {
    let form: FormBody

    static let statuses: [String: MessageStatus] = [
        "accepted": .enqueued, "scheduled": .enqueued, "queued": .enqueued, "sending": .enqueued,
        "sent": .sent, "delivered": .delivered, "read": .read,
        "undelivered": .failed, "failed": .failed, "canceled": .failed,
    ]

    func event(_ n: Normalization) -> Event {
        if let status = form["MessageStatus"] { return statusEvent(status, n) }
        if form["SmsStatus"] == "received" || form["Body"] != nil || form["NumMedia"] != nil, messageID != nil {
            return inboundMessage(n)
        }
        return n.unknown(raw: form.json, native: NativeNames(status: form["SmsStatus"]), reason: "neither a status callback nor an incoming message")
    }

    var messageID: String? {
        [form["MessageSid"], form["SmsSid"], form["SmsMessageSid"]].compactMap { $0 }.first { !$0.isEmpty }
    }

    var providerMessageIDs: JSONValue { .distinctStrings([form["MessageSid"], form["SmsSid"], form["SmsMessageSid"]]) }

    /// A status callback carries no event time: `time` is when Tickwire received it.
    func statusEvent(_ native: String, _ n: Normalization) -> Event {
        let status = Self.statuses[native]
        var draft = EventDraft(
            type: status.map(EventType.init(status:)) ?? .messageOther, subject: messageID,
            native: NativeNames(eventType: "status_callback", status: native))
        // Without an event time, the error code tells a retry from another failure report.
        draft.extraIdentity = [form["ErrorCode"]]
        draft.identifyByContent(form.json)
        draft.data = [
            "message_id": JSONValue(messageID),
            "provider_message_ids": providerMessageIDs,
            "status": JSONValue(status?.rawValue),
            "raw": form.json,
        ]
        // `To` is the user on a status callback; WhatsApp callbacks repeat it in ChannelToAddress.
        draft.data.merge(Party.fields(.recipient, form["To"] ?? form["ChannelToAddress"]))
        if status == .failed {
            let code = form["ErrorCode"].flatMap { $0.isEmpty ? nil : $0 } ?? (native == "canceled" ? "canceled" : nil)
            draft.data["error"] = FailureReason(code: code, title: form["ErrorMessage"], detail: nil).json
        }
        return n.event(draft)
    }
}
