import TickwireCore

extension MetaChangeEvents {
    /// `value.statuses[]`: the progress of an outbound message (meta_cloud_api.md §4).
    func statusEvent(_ item: JSONValue) -> Event {
        let native = item["status"]?.stringValue
        let status = native.flatMap(dialect.status)
        let wamid = item["id"]?.nonEmptyString
        let gsID = dialect.gupshupIDs ? item["gs_id"]?.nonEmptyString : nil
        let messageID = gsID ?? wamid
        var draft = EventDraft(
            type: status.map(EventType.init(status:)) ?? .messageOther, subject: messageID,
            native: NativeNames(eventType: "messages.statuses", status: native),
            providerTime: Timestamp.fromEpoch(item["timestamp"]))
        draft.identifyByContent(item)
        // A group message gets a status per participant, with the same id, status and time:
        // the participant tells them apart (else all but the first would be duplicates).
        if item["recipient_type"]?.stringValue == "group" {
            draft.extraIdentity.append(item["recipient_participant_id"]?.nonEmptyString ?? item["recipient_participant_user_id"]?.nonEmptyString)
        }
        draft.data = [
            "message_id": JSONValue(messageID),
            "provider_message_ids": .distinctStrings([wamid, gsID]),
            "status": JSONValue(status?.rawValue),
            // The sender's own tag on the send request: the natural reference id.
            "reference_id": item["biz_opaque_callback_data"] ?? .null,
            "conversation": item["conversation"] ?? .null,
            "pricing": item["pricing"] ?? .null,
            // Every failure carries an error, as with the other providers: "failed" when Meta
            // gives no errors[].
            "error": (Self.failure(item["errors"])
                ?? (status == .failed ? FailureReason(code: nil, title: "failed", detail: nil) : nil)).map(\.json) ?? .null,
            "business": business,
            "raw": change.raw(item: item, in: "statuses"),
        ]
        draft.data.merge(recipient(item))
        return n.event(draft)
    }

    /// A group message's status names the group in `recipient_id` and the person apart.
    private func recipient(_ item: JSONValue) -> JSONObject {
        if item["recipient_type"]?.stringValue == "group" {
            var fields = Party.fields(
                .recipient, item["recipient_participant_id"]?.stringValue,
                userID: item["recipient_participant_user_id"]?.nonEmptyString)
            fields["group_id"] = item["recipient_id"] ?? .null
            return fields
        }
        let phone = item["recipient_id"]?.stringValue
        let userID = item["recipient_user_id"]?.nonEmptyString ?? change.contact(for: phone, userID: nil)?["user_id"]?.nonEmptyString
        return Party.fields(.recipient, phone, userID: userID)
    }

    /// The first of `errors[]`: `{code, title, message, error_data.details}`.
    static func failure(_ errors: JSONValue?) -> FailureReason? {
        guard let error = errors?[0], error.objectValue != nil else { return nil }
        let title = error["title"]?.nonEmptyString ?? error["message"]?.nonEmptyString
        let detail = error["error_data"]?["details"]?.nonEmptyString ?? error["details"]?.nonEmptyString
            ?? error["message"]?.nonEmptyString ?? title
        return FailureReason(code: error["code"]?.stringValue, title: title, detail: detail)
    }
}
