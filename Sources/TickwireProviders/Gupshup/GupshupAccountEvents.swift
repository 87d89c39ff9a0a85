import TickwireCore

/// User, preference, billing, template and account events (gupshup.md §4–§6).
extension GupshupPayload {
    static let userEvents: [String: EventType] = [
        "opted-in": .userOptedIn, "opted-out": .userOptedOut, "sandbox-start": .userSandboxStarted,
    ]

    /// `type: user-event`: `{phone, type}`; `phone` is `callbackSetPhone` when Gupshup tests
    /// a newly saved callback URL: kept as the subject, not as a phone number.
    func userEvent(_ payload: JSONValue, _ n: Normalization) -> Event {
        let native = payload["type"]?.nonEmptyString
        guard let native, let type = Self.userEvents[native] else {
            return unknown("unknown user-event type", n, native: NativeNames(eventType: "user-event", status: native))
        }
        let phone = payload["phone"]?.nonEmptyString
        let userID = payload["userId"]?.nonEmptyString
        // A user with no phone (business-scoped) is known by their user id: without it, every
        // such user's opt-out had one id, and all but the first were dropped as retries. It
        // is their subject too (DESIGN §2 says the phone, which they have not): events with
        // one subject are delivered in order, and an opt-out retried after the opt-in that
        // followed it would leave a console with the wrong choice.
        var draft = EventDraft(
            type: type, subject: PhoneNumber.e164(phone) ?? phone ?? userID, native: NativeNames(eventType: "user-event", status: native),
            envelopeTime: envelopeTime)
        draft.data = ["sender": JSONValue(PhoneNumber.e164(phone)), "raw": body]
        if let userID { draft.data["sender_user_id"] = .string(userID) }
        return n.event(draft)
    }

    /// `type: preference-event`: Meta's marketing opt-out/in relayed by Gupshup, one event per
    /// `user_preferences[]` item (`stop` → opted out, `resume`/`signup` → opted in).
    func preferenceEvents(_ payload: JSONValue, _ n: Normalization) -> [Event] {
        let items = (payload["payload"]?["user_preferences"] ?? payload["user_preferences"])?.arrayValue ?? []
        guard !items.isEmpty else {
            return [unknown("preference-event without user_preferences", n,
                            native: NativeNames(eventType: "preference-event", status: payload["type"]?.stringValue))]
        }
        return items.map { item in
            guard let event = UserPreference(item: item, eventType: "preference-event").event(raw: body, n) else {
                // Identified by the item: two unknown items of one body were one event.
                return n.unknown(
                    raw: body, identity: item, native: NativeNames(eventType: "preference-event", status: item["value"]?.stringValue),
                    reason: "unknown user preference")
            }
            return event
        }
    }

    /// `type: billing-event`: one charged message; `deductions` as sent (model, category,
    /// amounts where given), the conversation id of the pre-2025 pricing when present.
    func billingEvent(_ payload: JSONValue, _ n: Normalization) -> Event {
        guard let deductions = payload["deductions"]?.nonEmptyObject else {
            return unknown("billing-event without deductions", n, native: NativeNames(eventType: "billing-event"))
        }
        let references = payload["references"] ?? .null
        let id = references["id"]?.nonEmptyString
        let gsID = references["gsId"]?.nonEmptyString
        var draft = EventDraft(
            type: .billingCharged, subject: gsID ?? id,
            native: NativeNames(eventType: "billing-event", status: deductions["type"]?.stringValue), envelopeTime: envelopeTime)
        draft.extraIdentity = [deductions.serializedString()]
        // Without a message, the deductions are the same for every charge of a kind.
        draft.identifyByContent(identity)
        draft.data = [
            "message_id": JSONValue(gsID ?? id),
            "provider_message_ids": .distinctStrings([id, gsID]),
            "billing": deductions,
            "conversation": references["conversationId"].map { .object(["id": $0]) } ?? .null,
            "raw": body,
        ]
        draft.data.merge(Party.fields(.recipient, references["destination"]?.stringValue))
        return n.event(draft)
    }

    /// `type: template-event`: status, category and quality updates of a template.
    func templateEvent(_ payload: JSONValue, _ n: Normalization) -> Event {
        let templateID = payload["id"]?.nonEmptyString
        var draft = EventDraft(
            type: .templateUpdated, subject: templateID,
            native: NativeNames(eventType: "template-event", status: payload["status"]?.stringValue ?? payload["type"]?.stringValue),
            envelopeTime: envelopeTime)
        // No event time is sent: the content tells a later change from a retry.
        draft.extraIdentity = [payload.serializedString()]
        draft.data = [
            "template": .compactObject([
                "id": JSONValue(templateID), "name": payload["elementName"] ?? .null,
                "language": payload["languageCode"] ?? .null, "status": payload["status"] ?? .null,
                "update": payload["type"] ?? .null, "category": payload["category"] ?? .null,
                "reason": payload["rejectedReason"] ?? payload["reason"] ?? .null,
            ]),
            "raw": body,
        ]
        return n.event(draft)
    }

    /// `account-event` (review, status, tier, capability, pricing-tier updates) and
    /// `onboarding-event` (go-live): about the app, whose name is the subject.
    func accountEvent(_ payload: JSONValue, _ n: Normalization, envelopeType: String?) -> Event {
        let app = body["app"]?.nonEmptyString ?? body["appId"]?.nonEmptyString
        var draft = EventDraft(
            type: .accountUpdated, subject: app,
            native: NativeNames(eventType: envelopeType, status: payload["type"]?.stringValue), envelopeTime: envelopeTime)
        draft.extraIdentity = [payload.serializedString()]
        draft.data = ["account": payload, "raw": body]
        return n.event(draft)
    }
}

/// One marketing-preference change (Meta `user_preferences`, also relayed by Gupshup).
struct UserPreference {
    let item: JSONValue
    let eventType: String

    static let types: [String: EventType] = ["stop": .userOptedOut, "resume": .userOptedIn, "signup": .userOptedIn]

    /// nil for a value this table does not know.
    func event(raw: JSONValue, _ n: Normalization) -> Event? {
        guard let value = item["value"]?.stringValue, let type = Self.types[value] else { return nil }
        let phone = item["wa_id"]?.nonEmptyString
        let userID = item["user_id"]?.nonEmptyString
        // A user with no phone is known by their user id, as subject too (see `userEvent`).
        var draft = EventDraft(
            type: type, subject: PhoneNumber.e164(phone) ?? phone ?? userID, native: NativeNames(eventType: eventType, status: value),
            providerTime: Timestamp.fromEpoch(item["timestamp"]))
        draft.data = [
            // Only marketing messages: service messages are still allowed (status_mapping §3).
            "scope": item["category"] ?? .null,
            "detail": item["detail"] ?? .null,
            "raw": raw,
        ]
        draft.data.merge(Party.fields(.sender, phone, userID: userID))
        return n.event(draft)
    }
}
