import Foundation
import TickwireCore

/// Meta's Cloud API webhook body (`object`, `entry[].changes[].value`), for the `meta`
/// provider and for the Meta-shaped bodies other providers relay (Gupshup v3).
///
/// One event per status, message, echo or preference item, one per other change
/// (meta_cloud_api.md §3, §9). Each event's `raw` is the body cut down to its own item: a
/// valid Meta body on its own, so a batch of 1000 updates does not store 1000 copies.
struct MetaWebhook {
    let body: JSONValue
    let dialect: MetaDialect

    func events(_ n: Normalization) -> [Event] {
        if let object = body["object"]?.stringValue, object != "whatsapp_business_account" {
            return [n.unknown(raw: body, native: NativeNames(eventType: object), reason: "not a WhatsApp Business Account webhook")]
        }
        guard let entries = body["entry"]?.arrayValue, !entries.isEmpty else {
            return [n.unknown(raw: body, reason: "no entry[] in the Meta webhook body")]
        }
        var events: [Event] = []
        for (entryIndex, entry) in entries.enumerated() {
            guard let changes = entry["changes"]?.arrayValue, !changes.isEmpty else {
                let part = MetaChange(body: body, entryIndex: entryIndex, changeIndex: nil, envelopeKeys: dialect.envelopeKeys)
                events.append(n.unknown(raw: part.rawChange, reason: "entry without changes[]"))
                continue
            }
            for changeIndex in changes.indices {
                let change = MetaChange(body: body, entryIndex: entryIndex, changeIndex: changeIndex, envelopeKeys: dialect.envelopeKeys)
                events += MetaChangeEvents(change: change, dialect: dialect, n: n).events()
            }
        }
        return events
    }
}

/// What differs when another provider relays Meta's format.
struct MetaDialect {
    /// Gupshup v3: an extra `enqueued` status, `gs_id` beside the `wamid`, and the Gupshup id
    /// as the message id (as in its v2 callbacks).
    var gupshupIDs: Bool

    static let meta = MetaDialect(gupshupIDs: false)
    static let gupshupV3 = MetaDialect(gupshupIDs: true)

    /// The body's top-level members a cut-down raw keeps besides `entry`.
    var envelopeKeys: [String] { gupshupIDs ? ["object", "gs_app_id"] : ["object"] }

    func status(_ native: String) -> MessageStatus? {
        switch native {
        case "sent": .sent
        case "delivered": .delivered
        // `played` (a voice message listened to) proves the message was consumed.
        case "read", "played": .read
        case "failed": .failed
        case "deleted": .deleted
        case "enqueued" where gupshupIDs: .enqueued
        default: nil
        }
    }
}

/// One `entry[i].changes[j]` of a body, and the cut-down bodies used as `raw`.
struct MetaChange {
    let body: JSONValue
    let entryIndex: Int
    let changeIndex: Int?
    // Looked up once: each event of the change reads them several times.
    let entry: JSONValue
    let change: JSONValue
    let value: JSONValue
    /// The body holds one entry with one change: this one.
    private let isWholeBody: Bool
    /// Top-level members a cut-down raw keeps besides `entry` (the provider's own).
    private let envelopeKeys: [String]

    init(body: JSONValue, entryIndex: Int, changeIndex: Int?, envelopeKeys: [String] = ["object"]) {
        self.body = body
        self.envelopeKeys = envelopeKeys
        self.entryIndex = entryIndex
        self.changeIndex = changeIndex
        let entries = body["entry"]?.arrayValue ?? []
        entry = entries.indices.contains(entryIndex) ? entries[entryIndex] : .null
        let changes = entry["changes"]?.arrayValue ?? []
        change = changeIndex.flatMap { changes.indices.contains($0) ? changes[$0] : nil } ?? .null
        value = change["value"] ?? .null
        isWholeBody = entries.count == 1 && changes.count == 1 && changeIndex != nil
    }

    var field: String? { change["field"]?.stringValue }
    /// `entry[].time`, sent with account and template changes (seconds).
    var entryTime: Date? { Timestamp.fromEpoch(entry["time"]) }

    /// The body with only this change (the body itself when it holds nothing else).
    var rawChange: JSONValue { isWholeBody ? body : raw(value: change["value"]) }

    /// The body with only this change and, in its value, only `item` in the array `key`, with
    /// Meta's own members beside it (`messaging_product`, `metadata`, `errors`, and the item's
    /// entry in `contacts`).
    func raw(item: JSONValue, in key: String) -> JSONValue {
        guard let members = value.objectValue else { return rawChange }
        // The usual webhook (one entry, one change, one item, no other item arrays) is its
        // own cut-down body: no copy to build.
        if isWholeBody, members[key]?.arrayValue?.count == 1,
            MetaChange.itemKeys.allSatisfy({ other in other == key || !members.contains(key: other) })
        {
            return body
        }
        // Only what describes this item: every member kept here is copied into each item's
        // event, so one shared by all (every contact, or a member Meta does not send) would
        // be stored, and serialized on the event loop, once per item.
        var kept = JSONObject()
        for name in ["messaging_product", "metadata", "errors"] {
            if let member = members[name] { kept[name] = member }
        }
        if let contacts = Self.contacts(members["contacts"]?.arrayValue ?? [], of: item) { kept["contacts"] = contacts }
        kept[key] = .array([item])
        return raw(value: .object(kept))
    }

    static let itemKeys = ["messages", "statuses", "message_echoes", "user_preferences"]

    /// The entries of `contacts` about `item`'s user (the only one when none names it).
    private static func contacts(_ contacts: [JSONValue], of item: JSONValue) -> JSONValue? {
        let phones = ["from", "recipient_id", "to", "wa_id"].compactMap { item[$0]?.stringValue }
        let matching = contacts.filter { contact in contact["wa_id"]?.stringValue.map(phones.contains) ?? false }
        if !matching.isEmpty { return .array(matching) }
        return contacts.count == 1 ? .array(contacts) : nil
    }

    /// The body with only this entry and change. Unless it is the whole body, only Meta's own
    /// members of the envelope are kept, for the same reason as in `raw(item:in:)`.
    private func raw(value: JSONValue?) -> JSONValue {
        guard let top = body.objectValue, let entryMembers = entry.objectValue else { return body }
        var trimmedEntry = JSONObject()
        for name in ["id", "time"] {
            if let member = entryMembers[name] { trimmedEntry[name] = member }
        }
        if changeIndex != nil, let changeMembers = change.objectValue {
            var trimmedChange = JSONObject()
            if let field = changeMembers["field"] { trimmedChange["field"] = field }
            trimmedChange["value"] = value
            trimmedEntry["changes"] = .array([.object(trimmedChange)])
        }
        var trimmedTop = JSONObject()
        for name in envelopeKeys {
            if let member = top[name] { trimmedTop[name] = member }
        }
        trimmedTop["entry"] = .array([.object(trimmedEntry)])
        return .object(trimmedTop)
    }
}
