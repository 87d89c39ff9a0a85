import TickwireCore

/// `data.error`: why a message failed, with the provider's code as text (Gupshup and Meta
/// send numbers, Twilio numeric strings, Unifonic words) so that consumers match one type.
struct FailureReason {
    var code: String?
    var title: String?
    var detail: String?

    var json: JSONValue {
        ["code": JSONValue(code), "title": JSONValue(title), "detail": JSONValue(detail)]
    }
}

/// `data.message` of an inbound message (DESIGN §2); nil members are left out.
struct InboundMessage {
    var type: String
    var text: String?
    var url: String?
    var mimeType: String?
    var caption: String?
    var filename: String?
    /// `{latitude, longitude, name, address, url}`
    var location: JSONValue?
    /// Contact cards in Meta's shape.
    var contacts: JSONValue?
    /// A tapped button or list option: `{id, title, payload, description}`.
    var reply: JSONValue?
    var context: MessageContext?
    /// Provider-specific members (`media_id`, `reaction`, `order`, `flow`, …).
    var extra: JSONObject = [:]

    init(type: String) {
        self.type = type
    }

    var json: JSONValue {
        var object = extra
        object["type"] = .string(type)
        object["text"] = JSONValue(text)
        object["url"] = JSONValue(url)
        object["mime_type"] = JSONValue(mimeType)
        object["caption"] = JSONValue(caption)
        object["filename"] = JSONValue(filename)
        object["location"] = location
        object["contacts"] = contacts
        object["reply"] = reply
        object["context"] = context.flatMap(\.json)
        return .object(object.withoutNulls)
    }
}

/// `data.message.context`: what the message answers or where it came from.
struct MessageContext {
    /// The id of the business message being answered, as status events name it.
    var replyTo: String?
    /// Every id the provider gave for that message, when it gave more than one.
    var replyToIDs: [String] = []
    var forwarded: Bool?
    var frequentlyForwarded: Bool?
    var extra: JSONObject = [:]

    /// nil when there is nothing to say.
    var json: JSONValue? {
        var object = extra
        object["reply_to"] = JSONValue(replyTo)
        if replyToIDs.count > 1 { object["reply_to_ids"] = .array(replyToIDs.map(JSONValue.string)) }
        object["forwarded"] = forwarded.map(JSONValue.bool)
        object["frequently_forwarded"] = frequentlyForwarded.map(JSONValue.bool)
        let members = object.withoutNulls
        return members.isEmpty ? nil : .object(members)
    }
}

extension JSONValue {
    /// The distinct non-empty texts among `values`, in order (for `provider_message_ids`).
    static func distinctStrings(_ values: [String?]) -> JSONValue {
        // A handful of ids, chosen by the adapter (not by the payload): a linear search
        // costs less than a set and three intermediate arrays.
        var strings: [JSONValue] = []
        strings.reserveCapacity(values.count)
        for case let value? in values where !value.isEmpty && !strings.contains(.string(value)) {
            strings.append(.string(value))
        }
        return .array(strings)
    }

    /// The value itself when it is an object, else nil (for optional nested payload parts).
    var nonEmptyObject: JSONValue? {
        guard let members = objectValue, !members.isEmpty else { return nil }
        return self
    }

    /// Strings as they are; other scalars as text; containers and null as nil.
    var text: String? { stringValue }
}

/// Phone members of `data`: E.164 when the value is a phone number, otherwise null (a masked
/// number, Gupshup's `callbackSetPhone`, a simulator id; `raw` keeps them). A business-scoped
/// user id (BSUID, `US.1234`), given apart or in place of the phone, goes to `<role>_user_id`.
enum Party {
    enum Role {
        case sender, recipient

        /// The member names, as constants: built by interpolation they were a string
        /// allocated for every event.
        var names: (phone: String, userID: String) {
            switch self {
            case .sender: ("sender", "sender_user_id")
            case .recipient: ("recipient", "recipient_user_id")
            }
        }
    }

    static func fields(_ role: Role, _ raw: String?, userID: String? = nil) -> JSONObject {
        let address = raw.map(stripChannelPrefix)
        let bsuid = userID.map(stripChannelPrefix) ?? address.flatMap { isBusinessScopedUserID($0) ? $0 : nil }
        let names = role.names
        return [names.phone: JSONValue(PhoneNumber.e164(address)), names.userID: JSONValue(bsuid)]
    }

    /// `whatsapp:US.1234` → `US.1234`.
    static func stripChannelPrefix(_ value: String) -> String {
        // On bytes: a Character search runs grapheme breaking over every phone number.
        guard let colon = value.utf8.firstIndex(of: UInt8(ascii: ":")) else { return value }
        return String(value[value.utf8.index(after: colon)...])
    }

    /// `US.1349…`, `US.ENT.5678`: two capital letters, then dot-separated runs of letters
    /// and digits (ASCII), none empty.
    static func isBusinessScopedUserID(_ value: String) -> Bool {
        var length = 0
        var run = 0
        for byte in value.utf8 {
            switch length {
            case 0, 1:
                guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) else { return false }
            case 2:
                guard byte == UInt8(ascii: ".") else { return false }
            default:
                if byte == UInt8(ascii: ".") {
                    guard run > 0 else { return false }
                    run = 0
                } else {
                    guard isASCIILetterOrDigit(byte) else { return false }
                    run += 1
                }
            }
            length += 1
        }
        return run > 0
    }

    private static func isASCIILetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
