import Foundation
import TickwireCore

/// One outgoing request's id (for `webhook-id`), headers and body, per format.
struct HTTPForwarderRequest {
    var id: String
    var headers: [(String, String)]
    var body: [UInt8]

    static func single(_ event: Event, format: HTTPForwarderConfig.Format) -> HTTPForwarderRequest {
        switch format {
        case .cloudevents, .cloudeventsBatch:
            return HTTPForwarderRequest(id: event.id, headers: [("content-type", "application/cloudevents+json")], body: event.cloudEventBytes)
        case .cloudeventsBinary:
            return binary(event)
        case .native:
            return native(event)
        }
    }

    static func batch(_ events: [Event]) -> HTTPForwarderRequest {
        var body: [UInt8] = [UInt8(ascii: "[")]
        for (index, event) in events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += event.cloudEventBytes
        }
        body.append(UInt8(ascii: "]"))
        // A batch's id is derived from its events, so a retry of the same batch has the same id.
        return HTTPForwarderRequest(
            id: EventID.make(events.map(\.id)), headers: [("content-type", "application/cloudevents-batch+json")], body: body)
    }

    /// CloudEvents binary mode: attributes as `ce-*` headers, `data` as the body.
    static func binary(_ event: Event) -> HTTPForwarderRequest {
        var attributes: [(String, String)] = [
            ("ce-specversion", Event.specVersion), ("ce-id", event.id), ("ce-source", event.source),
            ("ce-type", event.type.rawValue), ("ce-time", Timestamp.format(event.time)),
            ("ce-org", event.org), ("ce-channel", event.channel), ("ce-provider", event.provider),
        ]
        if let subject = event.subject { attributes.append(("ce-subject", subject)) }
        let headers = [("content-type", "application/json")] + attributes.map { ($0, Self.headerValue($1)) }
        return HTTPForwarderRequest(id: event.id, headers: headers, body: JSONValue.object(event.data).serializedBytes())
    }

    /// An attribute as a `ce-*` header value (HTTP binding §3.1.3.2): UTF-8, with every byte
    /// outside printable ASCII, the space, `"` and `%` percent-encoded. A subject comes from
    /// the provider's payload and may hold any of them.
    static func headerValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: headerValueCharacters) ?? ""
    }

    private static let headerValueCharacters: CharacterSet = {
        var printable = CharacterSet(charactersIn: Unicode.Scalar(0x21)...Unicode.Scalar(0x7E))
        printable.remove(charactersIn: "\"%")
        return printable
    }()

    /// The provider's request body, byte for byte, in its content type. Events journaled
    /// before bodies were kept get their payload re-encoded: JSON, or form fields for Twilio.
    static func native(_ event: Event) -> HTTPForwarderRequest {
        if let payload = event.raw {
            return HTTPForwarderRequest(
                id: event.id, headers: [("content-type", payload.contentType ?? "application/octet-stream")], body: payload.body)
        }
        let raw = event.data["raw"] ?? .null
        if event.provider == "twilio", let fields = raw.objectValue {
            let form = fields.keys.sorted().map { key in
                "\(Self.formEscape(key))=\(Self.formEscape(fields[key]?.stringValue ?? ""))"
            }.joined(separator: "&")
            return HTTPForwarderRequest(id: event.id, headers: [("content-type", "application/x-www-form-urlencoded")], body: Array(form.utf8))
        }
        return HTTPForwarderRequest(id: event.id, headers: [("content-type", "application/json")], body: raw.serializedBytes())
    }

    static func formEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
