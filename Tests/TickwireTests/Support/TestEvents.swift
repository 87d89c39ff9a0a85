import Foundation
import TickwireCore

enum TestEvents {
    /// A status event as an adapter would make it, with a deterministic id.
    static func status(
        _ status: MessageStatus, message: String, org: String = "acme", channel: String = "gs", at seconds: Double = 1_700_000_000
    ) -> Event {
        let type = EventType(status: status)
        return Event(
            id: EventID.make([org, channel, "test", type.rawValue, message, status.rawValue, String(seconds)]),
            type: type, time: Date(timeIntervalSince1970: seconds), subject: message,
            org: org, channel: channel, provider: "test",
            data: ["message_id": .string(message), "status": .string(status.rawValue), "provider_message_ids": [.string(message)]])
    }

    static func received(message: String, org: String = "acme", channel: String = "gs") -> Event {
        Event(
            id: EventID.make([org, channel, "test", "message.received", message]),
            type: .messageReceived, time: Date(timeIntervalSince1970: 1_700_000_000), subject: message,
            org: org, channel: channel, provider: "test", data: ["message_id": .string(message)])
    }
}
