/// Checks that a callback really comes from the channel's provider (`auth:` in YAML).
///
/// Registered by `type` like providers and sinks; the `Config` type holds its secrets.
public protocol ChannelAuthenticator: Sendable {
    associatedtype Config: Decodable & Sendable

    /// The `auth.type` name in YAML.
    static var name: String { get }

    init(config: Config, channel: ChannelAuthContext) throws(ConfigIssue)

    /// Throws `WebhookRejection.unauthorized` (401) when the request is not authentic.
    /// Compare secrets with `ConstantTime.equals` or `HMAC.isValidAuthenticationCode`.
    func authenticate(_ request: WebhookRequest) throws(WebhookRejection)

    /// Throws what `authenticate` would throw whatever the body, from the request's head
    /// alone (its body is empty here): a missing or wrong token, a missing signature header.
    /// It runs before the body is read, so that a client without credentials never makes
    /// the daemon hold a body; `authenticate` still runs once the body is in. Default: the
    /// head is not checked.
    func authenticateHead(_ request: WebhookRequest) throws(WebhookRejection)

    /// Whether `authenticate` looks at anything `authenticateHead` did not (the body, for a
    /// signature). False when the head check is the whole check: a request that passed it
    /// is not checked again.
    var checksBody: Bool { get }

    /// Answers a GET on the webhook URL (Meta's verification handshake); nil means this
    /// auth type has no handshake and the GET is answered 405.
    func handshake(_ request: WebhookRequest) -> WebhookResponse?
}

extension ChannelAuthenticator {
    public func authenticateHead(_ request: WebhookRequest) throws(WebhookRejection) {}
    public var checksBody: Bool { true }

    public func handshake(_ request: WebhookRequest) -> WebhookResponse? { nil }
}

/// Channel settings that some auth types need (Twilio signs the public URL).
public struct ChannelAuthContext: Sendable {
    public var publicURL: String?

    public init(publicURL: String?) {
        self.publicURL = publicURL
    }
}
