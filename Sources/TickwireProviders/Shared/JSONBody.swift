import TickwireCore

/// The body of a JSON provider: a JSON object, or a 400 that says what is wrong.
enum JSONBody {
    static func object(_ request: WebhookRequest, provider: String) throws(WebhookRejection) -> JSONValue {
        guard !request.body.isEmpty else { throw .badRequest("empty body: expected a \(provider) JSON object") }
        let value: JSONValue
        do {
            value = try JSONValue.parse(request.body)
        } catch {
            throw .badRequest("body is not valid JSON: expected a \(provider) JSON object")
        }
        guard case .object = value else {
            throw .badRequest("body is JSON but not an object: expected a \(provider) JSON object")
        }
        return value
    }
}
