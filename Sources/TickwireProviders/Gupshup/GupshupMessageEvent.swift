import TickwireCore

extension GupshupPayload {
    /// `type: message-event`: the status of an outbound message (gupshup.md §3).
    ///
    /// Id roles follow the event type and field names, never the id's shape: the message id
    /// is `gsId` (Gupshup's, returned by the send API) when present, else `payload.id`.
    func messageEvent(_ payload: JSONValue, _ n: Normalization, enveloped: Bool = true) -> Event {
        let nativeType = enveloped ? "message-event" : nil
        guard let native = payload["type"]?.nonEmptyString else {
            return unknown("message-event without payload.type", n, native: NativeNames(eventType: nativeType))
        }
        let inner = payload["payload"] ?? .null
        let id = payload["id"]?.nonEmptyString
        let gsID = payload["gsId"]?.nonEmptyString ?? payload["gs_id"]?.nonEmptyString
        let messageID = gsID ?? id
        let status = Self.statuses[native]
        var draft = EventDraft(
            type: status.map(EventType.init(status:)) ?? .messageOther, subject: messageID,
            native: NativeNames(eventType: "message-event", status: native),
            providerTime: Timestamp.fromEpoch(inner["ts"]), envelopeTime: enveloped ? envelopeTime : nil)
        draft.data = [
            "message_id": JSONValue(messageID),
            "provider_message_ids": .distinctStrings([id, gsID, inner["whatsappMessageId"]?.nonEmptyString]),
            "status": JSONValue(status?.rawValue),
            "conversation": payload["conversation"] ?? inner["conversation"] ?? .null,
            "pricing": payload["pricing"] ?? inner["pricing"] ?? .null,
            "raw": body,
        ]
        // `deleted` is about the user's own inbound message: the phone is its sender.
        draft.data.merge(Party.fields(status == .deleted ? .sender : .recipient,
                                      payload["destination"]?.stringValue, userID: payload["userId"]?.nonEmptyString))
        if status == .failed { draft.data["error"] = Self.failure(inner).json }
        // Two failure reports about one message differ in what they say (most carry no event
        // time either): one with code 1002 and one without a code had one id, and the second
        // was dropped. A provider's retry says the same again.
        draft.identifyByContent(identity)
        if messageID != nil, status == .failed || status == nil, !inner.isNull {
            draft.extraIdentity.append(inner.serializedString())
        }
        if !enveloped { draft.data["envelope"] = "missing" }
        return n.event(draft)
    }

    /// `code` (Gupshup's or Meta's, a number) and `reason`; both may be missing.
    static func failure(_ inner: JSONValue) -> FailureReason {
        let reason = inner["reason"]?.nonEmptyString
        return FailureReason(code: inner["code"]?.nonEmptyString, title: reason ?? "failed", detail: reason)
    }
}
