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
    var envelopeKeys: [String] { gupshupIDs ? Self.gupshupEnvelope : Self.metaEnvelope }
    private static let metaEnvelope = ["object"]
    private static let gupshupEnvelope = ["object", "gs_app_id"]

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
    /// The value's members every item's raw shares, measured once per change.
    let shared = SharedMembers()

    init(body: JSONValue, entryIndex: Int, changeIndex: Int?, envelopeKeys: [String]) {
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

    /// The body with only this change: its whole value, in the envelope's own members. The
    /// same whether the change came alone or in a batch (an unknown event's id is taken from
    /// it), and the body itself when that holds nothing else.
    var rawChange: JSONValue { raw(value: change["value"]) }

    /// The body with only this change and, in its value, only `item` in the array `key`, with
    /// Meta's own members beside it (`messaging_product`, `metadata`, `errors`, and the item's
    /// entry in `contacts`). `whole`: a body that holds only this item is returned as it is
    /// (no copy to build; an id must not be taken from it, since it holds whatever else came).
    func raw(item: JSONValue, in key: String, whole: Bool = true) -> JSONValue {
        guard let members = value.objectValue else { return rawChange }
        if whole, isWholeBody, members[key]?.arrayValue?.count == 1,
            MetaChange.itemKeys.allSatisfy({ other in other == key || !members.contains(key: other) })
        {
            return body
        }
        // Only what describes this item: every member kept here is copied into each item's
        // event, so one shared by all (every contact, a member Meta does not send, or one
        // inflated past any real size) would be stored, and serialized on the event loop,
        // once per item.
        var kept = shared.members(of: members)
        if let contacts = shared.contacts(of: item, in: members) { kept["contacts"] = contacts }
        kept[key] = .array([item])
        shared.arraysCut.insert(key)
        return raw(value: .object(kept))
    }

    static let itemKeys = ["messages", "statuses", "message_echoes", "user_preferences"]

    /// The body with only this change and, in its value, the members no cut-down raw of its
    /// items carried (one Meta added, or one too large to repeat per item), beside
    /// `messaging_product` and `metadata`; nil when none was cut down, or nothing was left.
    /// Kept as an event of its own, so that nothing of a batch is lost (DESIGN §1).
    var rawLeftovers: JSONValue? {
        guard let members = value.objectValue, let left = shared.leftovers(of: members) else { return nil }
        var kept = left
        for name in ["messaging_product", "metadata"] where kept[name] == nil {
            if let member = members[name] { kept[name] = member }
        }
        return raw(value: .object(kept))
    }

    /// The `contacts[]` entries about the user with one of these phones (`wa_id`) or
    /// business-scoped ids (`user_id`; a user may have no phone). When none names them, the
    /// only entry, unless it names someone (a batch's contact of another user).
    static func contactIndices(in contacts: [JSONValue], phones: [String?], userIDs: [String?]) -> [Int] {
        let phones = phones.compactMap { $0 }.filter { !$0.isEmpty }, userIDs = userIDs.compactMap { $0 }.filter { !$0.isEmpty }
        let named = contacts.indices.filter { index in
            contacts[index]["wa_id"]?.nonEmptyString.map(phones.contains) == true
                || contacts[index]["user_id"]?.nonEmptyString.map(userIDs.contains) == true
        }
        guard named.isEmpty, contacts.count == 1 else { return named }
        let namesSomeone = contacts[0]["wa_id"]?.nonEmptyString != nil || contacts[0]["user_id"]?.nonEmptyString != nil
        return (phones.isEmpty && userIDs.isEmpty) || !namesSomeone ? [0] : []
    }

    /// The user's entry in `value.contacts[]` (`contactIndices`). Each message of the user
    /// repeats it, so only a real contact's size is taken.
    func contact(for phone: String?, userID: String?) -> JSONValue? {
        guard let members = value.objectValue else { return nil }
        let contacts = members["contacts"]?.arrayValue ?? []
        guard let index = Self.contactIndices(in: contacts, phones: [phone], userIDs: [userID]).first else { return nil }
        // A body with one change has one event per item, usually one: nothing to measure.
        return isWholeBody || shared.isSmallContact(index, of: contacts) ? contacts[index] : nil
    }

    /// The body with only this entry and change, in the envelope's own members (scalars of
    /// a sensible size: every item's raw repeats them). An entry without changes is kept
    /// whole: it is the payload.
    private func raw(value: JSONValue?) -> JSONValue {
        guard let top = body.objectValue, let entryMembers = entry.objectValue else { return body }
        var trimmedEntry = JSONObject()
        if changeIndex == nil {
            trimmedEntry = entryMembers
        } else {
            for name in ["id", "time"] {
                if let member = entryMembers[name], SharedMembers.isSmallScalar(member) { trimmedEntry[name] = member }
            }
            if let changeMembers = change.objectValue {
                var trimmedChange = JSONObject()
                if let field = changeMembers["field"], SharedMembers.isSmallScalar(field) { trimmedChange["field"] = field }
                trimmedChange["value"] = value
                trimmedEntry["changes"] = .array([.object(trimmedChange)])
            }
        }
        var trimmedTop = JSONObject()
        for name in envelopeKeys {
            if let member = top[name], SharedMembers.isSmallScalar(member) { trimmedTop[name] = member }
        }
        trimmedTop["entry"] = .array([.object(trimmedEntry)])
        return .object(trimmedTop)
    }
}

/// The members of a change's value that each item's raw repeats, each kept only up to a
/// size a real webhook has: measured once per change, not once per item.
final class SharedMembers {
    static let largest = 4096
    private var measured: JSONObject?
    private var contactSizes: [Int]?

    static func isSmallScalar(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let text): text.utf8.count <= 256
        case .object, .array: false
        default: true
        }
    }

    /// The arrays of items (`MetaChange.itemKeys`) whose items were given cut-down raws.
    var arraysCut: Set<String> = []
    /// The `contacts[]` entries some item's raw carried.
    private var keptContacts: Set<Int> = []

    /// The value's members no cut-down raw carried: not an array of the items, not kept
    /// by `members(of:)`, and the contacts no item took (too large, or naming no item's
    /// user). nil until a cut-down raw was built (the body was each item's raw).
    func leftovers(of value: JSONObject) -> JSONObject? {
        guard let measured else { return nil }
        var left = value.filter { measured[$0.key] == nil && $0.key != "contacts" && !arraysCut.contains($0.key) }
        let contacts = value["contacts"]?.arrayValue ?? []
        let untaken = contacts.indices.filter { !keptContacts.contains($0) }.map { contacts[$0] }
        if !untaken.isEmpty { left["contacts"] = .array(untaken) }
        return left.isEmpty ? nil : left
    }

    func members(of value: JSONObject) -> JSONObject {
        if let measured { return measured }
        var kept = JSONObject()
        for name in ["messaging_product", "metadata", "errors"] {
            if let member = value[name], member.serializedBytes().count <= Self.largest { kept[name] = member }
        }
        measured = kept
        return kept
    }

    func isSmallContact(_ index: Int, of contacts: [JSONValue]) -> Bool {
        sizes(of: contacts)[index] <= Self.largest
    }

    private func sizes(of contacts: [JSONValue]) -> [Int] {
        if let contactSizes { return contactSizes }
        let sizes = contacts.map { $0.serializedBytes().count }
        contactSizes = sizes
        return sizes
    }

    /// The entries of `contacts` about `item`'s user (`MetaChange.contactIndices`).
    func contacts(of item: JSONValue, in value: JSONObject) -> JSONValue? {
        let contacts = value["contacts"]?.arrayValue ?? []
        guard !contacts.isEmpty else { return nil }
        let sizes = sizes(of: contacts)
        // A group status's user is its participant (`recipient_id` is the group).
        let phones = ["from", "recipient_id", "to", "wa_id", "recipient_participant_id"].map { item[$0]?.stringValue }
        let userIDs = ["from_user_id", "recipient_user_id", "to_user_id", "user_id", "recipient_participant_user_id"].map { item[$0]?.stringValue }
        let chosen = MetaChange.contactIndices(in: contacts, phones: phones, userIDs: userIDs).filter { sizes[$0] <= Self.largest }
        keptContacts.formUnion(chosen)
        return chosen.isEmpty ? nil : .array(chosen.map { contacts[$0] })
    }
}
