import TickwireCore

/// The body of a JSON provider: its events, or a 400 that says what is wrong.
enum JSONBody {
    /// Parses the body and hands a JSON object to `events`. JSON that is not an object (an
    /// array, a string) parses but is not understood: one `provider.unknown` event, as
    /// DESIGN §1 says for anything that parses, never a 400 (which Meta retries for days).
    static func events(
        _ request: WebhookRequest, channel: ChannelContext, provider: String, _ events: (JSONValue, Normalization) -> [Event]
    ) throws(WebhookRejection) -> [Event] {
        guard !request.body.isEmpty else { throw .badRequest("empty body: expected a \(provider) JSON object") }
        let value: JSONValue
        do {
            value = try JSONValue.parse(request.body)
        } catch {
            throw .badRequest("body is not valid JSON: expected a \(provider) JSON object")
        }
        let normalization = Normalization(channel: channel, request: request)
        guard case .object = value else { return [normalization.unknown(raw: value, reason: "body is JSON but not an object")] }
        return Normalization.unique(events(value, normalization))
    }
}
