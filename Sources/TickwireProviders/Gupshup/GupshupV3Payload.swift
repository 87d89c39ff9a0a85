import TickwireCore

/// A v3 subscription's body on a Gupshup channel: Meta's format with Gupshup additions
/// (`gs_id`, an `enqueued` status, ms timestamps), read by the Meta parser (gupshup.md §8).
struct GupshupV3Payload {
    let body: JSONValue

    func events(_ n: Normalization) -> [Event] {
        MetaWebhook(body: body, dialect: .gupshupV3).events(n)
    }
}
