import TickwireCore

/// `auth: {type: token, token: "…", header: "X-Webhook-Token"}`: a shared secret that the
/// provider sends back on every callback, for providers that do not sign (Gupshup, Unifonic).
///
/// Accepted from the query (`?token=…`), from `Authorization: Bearer …`, or from the
/// configured header; compared in constant time.
public struct TokenAuthenticator: ChannelAuthenticator {
    public struct Config: Decodable, Sendable {
        /// The secret; at least 16 characters.
        public var token: String
        /// An extra header that may carry the token (Gupshup subscription `meta.headers`,
        /// Unifonic custom headers).
        public var header: String?

        enum CodingKeys: String, CodingKey { case token, header }

        public init(token: String, header: String? = nil) {
            self.token = token
            self.header = header
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            token = try c.decodeSecret(String.self, forKey: .token)
            header = try c.decodeIfPresent(String.self, forKey: .header)
            // The message must not echo the value: it is a secret.
            guard token.count >= 16 else { throw ConfigIssue("token: must be at least 16 characters long") }
            if let header, !header.isHTTPToken {
                throw ConfigIssue("header: \"\(header)\" is not a valid header name")
            }
        }
    }

    public static let name = "token"

    let token: [UInt8]
    let header: String?

    public init(config: Config, channel: ChannelAuthContext) throws(ConfigIssue) {
        token = Array(config.token.utf8)
        header = config.header?.lowercased()
    }

    public func authenticate(_ request: WebhookRequest) throws(WebhookRejection) {
        // Every candidate is compared so that timing does not reveal which place matched.
        var matched = false
        for candidate in candidates(in: request) {
            matched = ConstantTime.equals(Array(candidate.utf8), token) || matched
        }
        guard matched else { throw .unauthorized("missing or wrong token") }
    }

    /// The token is in the URL or a header: all of the check needs no body.
    public func authenticateHead(_ request: WebhookRequest) throws(WebhookRejection) {
        try authenticate(request)
    }

    public var checksBody: Bool { false }

    private func candidates(in request: WebhookRequest) -> [String] {
        var found: [String] = []
        if let query = request.query["token"] { found.append(query) }
        if let bearer = BearerCredentials.token(in: request) { found.append(bearer) }
        if let header, let value = request.header(header) { found.append(value.trimmingASCIIWhitespace) }
        return found
    }
}

/// `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750).
enum BearerCredentials {
    static func token(in request: WebhookRequest) -> String? {
        guard let value = request.header("authorization") else { return nil }
        let parts = value.trimmingASCIIWhitespace.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingASCIIWhitespace
    }
}
