import TickwireCore

/// The events of one change, by its `field` (meta_cloud_api.md §4–§8).
struct MetaChangeEvents {
    let change: MetaChange
    let dialect: MetaDialect
    let n: Normalization

    static let templateFields: Set<String> = [
        "message_template_status_update", "message_template_quality_update",
        "template_category_update", "message_template_components_update",
    ]
    static let accountFields: Set<String> = [
        "account_update", "account_alerts", "account_review_update", "business_capability_update",
        "phone_number_quality_update", "phone_number_name_update", "security",
    ]

    func events() -> [Event] {
        let events = itemEvents()
        guard let leftovers = change.rawLeftovers else { return events }
        return events + [n.unknown(raw: leftovers, native: NativeNames(eventType: change.field), reason: "members of the change beside its items")]
    }

    private func itemEvents() -> [Event] {
        let value = change.value
        guard value.objectValue != nil, let field = change.field else {
            return [unknown("change without field or value object")]
        }
        switch field {
        case "messages":
            let statuses = value["statuses"]?.arrayValue ?? []
            let messages = value["messages"]?.arrayValue ?? []
            guard !statuses.isEmpty || !messages.isEmpty else {
                // Change-level `errors[]` alone: an out-of-band problem, kept as is.
                return [unknown(value["errors"] != nil ? "messages change with errors[] only" : "messages change without messages or statuses")]
            }
            return statuses.map(statusEvent) + messages.map(messageEvent)
        case "smb_message_echoes":
            let echoes = value["message_echoes"]?.arrayValue ?? []
            return echoes.isEmpty ? [unknown("smb_message_echoes without message_echoes[]")] : echoes.map(echoEvent)
        case "user_preferences":
            let items = value["user_preferences"]?.arrayValue ?? []
            guard !items.isEmpty else { return [unknown("user_preferences without items")] }
            return items.map { item in
                // An unknown item's raw is its own cut-down body, not the change's: that holds
                // every item, and its id was computed from it once per item. Cut down even
                // when it came alone, so that its id does not depend on the batching.
                UserPreference(item: item, eventType: field).event(raw: change.raw(item: item, in: "user_preferences"), n)
                    ?? n.unknown(raw: change.raw(item: item, in: "user_preferences", whole: false), native: NativeNames(eventType: field),
                                 reason: "unknown user preference \"\(item["value"]?.stringValue ?? "")\"")
            }
        case _ where Self.templateFields.contains(field): return [templateEvent(field)]
        case _ where Self.accountFields.contains(field): return [accountEvent(field)]
        default: return [unknown("field \"\(field)\" is not mapped")]
        }
    }

    func unknown(_ reason: String) -> Event {
        n.unknown(raw: change.rawChange, native: NativeNames(eventType: change.field), reason: reason)
    }

    /// The business side of the change: WABA id and phone number (to tell numbers apart
    /// when one channel serves several).
    var business: JSONValue {
        let metadata = change.value["metadata"] ?? .null
        // Every event of the change repeats these: ids of a real webhook's size only.
        func small(_ value: JSONValue?) -> JSONValue { value.flatMap { SharedMembers.isSmallScalar($0) ? $0 : nil } ?? .null }
        let members: JSONObject = [
            "waba_id": small(change.entry["id"]),
            "phone_number_id": small(metadata["phone_number_id"]),
            "display_phone_number": small(metadata["display_phone_number"]),
        ]
        return .object(members.withoutNulls)
    }

    /// `message_template_*` and `template_category_update`: about one template.
    func templateEvent(_ field: String) -> Event {
        let value = change.value
        let templateID = value["message_template_id"]?.nonEmptyString
        let status = value["event"]?.stringValue ?? value["new_category"]?.stringValue ?? value["new_quality_score"]?.stringValue
        var draft = EventDraft(
            type: .templateUpdated, subject: templateID, native: NativeNames(eventType: field, status: status),
            providerTime: change.entryTime)
        draft.extraIdentity = [value.serializedString()]
        draft.data = [
            "template": .compactObject([
                "id": JSONValue(templateID), "name": value["message_template_name"] ?? .null,
                "language": value["message_template_language"] ?? .null, "status": value["event"] ?? .null,
                "update": .string(field), "category": value["new_category"] ?? .null,
                "quality": value["new_quality_score"] ?? .null, "reason": value["reason"] ?? .null,
            ]),
            "raw": change.rawChange,
        ]
        return n.event(draft)
    }

    /// Account, phone-number and capability changes: about the WhatsApp Business Account.
    func accountEvent(_ field: String) -> Event {
        let value = change.value
        var draft = EventDraft(
            type: .accountUpdated, subject: change.entry["id"]?.nonEmptyString,
            native: NativeNames(eventType: field, status: value["event"]?.stringValue ?? value["decision"]?.stringValue),
            providerTime: change.entryTime)
        draft.extraIdentity = [value.serializedString()]
        draft.data = ["account": value, "raw": change.rawChange]
        return n.event(draft)
    }
}
