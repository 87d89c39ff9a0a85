import TickwireCore

extension MetaChangeEvents {
    /// `value.messages[]`: a user wrote to the business (meta_cloud_api.md §5). A `revoke`
    /// (the user deleted their message for everyone) is `message.deleted` about that message.
    func messageEvent(_ item: JSONValue) -> Event {
        let native = item["type"]?.stringValue
        let wamid = item["id"]?.nonEmptyString
        let from = item["from"]?.nonEmptyString
        let time = Timestamp.fromEpoch(item["timestamp"])
        let names = NativeNames(eventType: "messages.messages", status: native)
        var draft: EventDraft
        if native == "revoke", let original = item["revoke"]?["original_message_id"]?.nonEmptyString {
            draft = EventDraft(type: .messageDeleted, subject: original, native: names, providerTime: time)
            draft.data = ["provider_message_ids": .distinctStrings([original]), "status": "deleted"]
            // Known by the original message; a revoke without an id of its own has also been
            // known by its content since before `identifyByContent`, and keeps its id.
            if wamid == nil { draft.extraIdentity.append(item.serializedString()) }
        } else {
            draft = EventDraft(type: .messageReceived, subject: wamid, native: names, providerTime: time)
            var message = MetaMessageContent.content(item)
            if let context = MetaMessageContent.context(item["context"], gupshupIDs: dialect.gupshupIDs) {
                message.context = context
            }
            draft.data = [
                "message_id": JSONValue(wamid),
                "provider_message_ids": .distinctStrings([wamid]),
                "message": message.json,
                "referral": item["referral"] ?? .null,
                "group_id": item["group_id"] ?? .null,
                // An `unsupported` message says why in its own errors[], else the change does.
                "error": (Self.failure(item["errors"]) ?? Self.failure(change.value["errors"])).map(\.json) ?? .null,
            ]
        }
        draft.identifyByContent(item)
        let fromUserID = item["from_user_id"]?.nonEmptyString
        let contact = change.contact(for: from, userID: fromUserID)
        draft.data["sender_name"] = contact?["profile"]?["name"] ?? .null
        draft.data["business"] = business
        draft.data["raw"] = change.raw(item: item, in: "messages")
        draft.data.merge(Party.fields(
            .sender, from, userID: fromUserID ?? contact?["user_id"]?.nonEmptyString))
        return n.event(draft)
    }

    /// `smb_message_echoes`: a message the business typed in the WhatsApp Business app.
    func echoEvent(_ item: JSONValue) -> Event {
        let wamid = item["id"]?.nonEmptyString
        var draft = EventDraft(
            type: .messageOther, subject: wamid, native: NativeNames(eventType: "smb_message_echoes", status: item["type"]?.stringValue),
            providerTime: Timestamp.fromEpoch(item["timestamp"]))
        draft.identifyByContent(item)
        draft.data = [
            "message_id": JSONValue(wamid),
            "provider_message_ids": .distinctStrings([wamid]),
            "message": MetaMessageContent.content(item).json,
            "business": business,
            "raw": change.raw(item: item, in: "message_echoes"),
        ]
        draft.data.merge(Party.fields(.recipient, item["to"]?.stringValue, userID: item["to_user_id"]?.nonEmptyString))
        return n.event(draft)
    }
}
