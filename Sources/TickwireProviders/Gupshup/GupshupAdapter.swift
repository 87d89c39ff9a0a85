import Foundation
import TickwireCore

/// `provider: gupshup`: Gupshup's WhatsApp callbacks, the v2 envelope
/// (`{app, timestamp, version, type, payload}`) and the v3 Meta-shaped bodies that Gupshup
/// may post to the same URL. Gupshup does not sign callbacks: pair it with `auth: token`.
public struct GupshupAdapter: ProviderAdapter {
    public static let name = "gupshup"

    public init(config: NoOptions) {}

    public func normalize(_ request: WebhookRequest, channel: ChannelContext) throws(WebhookRejection) -> [Event] {
        try JSONBody.events(request, channel: channel, provider: "Gupshup") { body, n in
            GupshupPayload(body: body).events(n)
        }
    }
}

/// One Gupshup callback body, routed by its envelope `type` (gupshup.md §1, §11).
struct GupshupPayload {
    let body: JSONValue

    /// The callback's envelope `timestamp` (ms): a fallback for `time`, never for ids.
    var envelopeTime: Date? { Timestamp.fromEpoch(body["timestamp"]) }

    /// The body without the envelope fields that may change between retries.
    var identity: JSONValue {
        guard var members = body.objectValue else { return body }
        members["timestamp"] = nil
        return .object(members)
    }

    func events(_ n: Normalization) -> [Event] {
        let envelopeType = body["type"]?.stringValue
        if envelopeType == nil, body["entry"] != nil {
            return GupshupV3Payload(body: body).events(n)
        }
        let payload = body["payload"] ?? .null
        switch envelopeType {
        case "message-event": return [messageEvent(payload, n)]
        case "message": return [inboundMessage(payload, n)]
        case "user-event": return [userEvent(payload, n)]
        case "preference-event": return preferenceEvents(payload, n)
        case "billing-event": return [billingEvent(payload, n)]
        case "template-event": return [templateEvent(payload, n)]
        case "account-event", "onboarding-event", "system-event": return [accountEvent(payload, n, envelopeType: envelopeType)]
        default:
            // Callbell relays only the inner payload of a message-event, without the envelope.
            if isBareMessageEvent { return [messageEvent(body, n, enveloped: false)] }
            let reason = envelopeType.map { "unknown Gupshup envelope type \"\($0)\"" } ?? "no envelope type"
            return [unknown(reason, n, native: NativeNames(eventType: envelopeType, status: payload["type"]?.stringValue))]
        }
    }

    func unknown(_ reason: String, _ n: Normalization, native: NativeNames) -> Event {
        n.unknown(raw: body, identity: identity, native: native, reason: reason)
    }

    /// `{id, gsId?, type: "read", destination, payload: {ts}}` with no envelope around it.
    private var isBareMessageEvent: Bool {
        guard let type = body["type"]?.stringValue, GupshupPayload.statuses[type] != nil || type == "mismatch" else { return false }
        return body["id"]?.nonEmptyString != nil && (body["gsId"] != nil || body["destination"] != nil)
    }

    /// Message-event `payload.type` → status (gupshup.md §3); others are `message.other`.
    static let statuses: [String: MessageStatus] = [
        "enqueued": .enqueued, "sent": .sent, "delivered": .delivered, "read": .read,
        "failed": .failed, "deleted": .deleted,
    ]
}
