import TickwireCore

/// `auth: {type: none}`: accepts every request. Must be written out in the config, so that an
/// open endpoint is always a visible choice (local tests, a provider behind a private network).
public struct NoAuthenticator: ChannelAuthenticator {
    public static let name = "none"

    public init(config: NoOptions, channel: ChannelAuthContext) throws(ConfigIssue) {}

    public func authenticate(_ request: WebhookRequest) throws(WebhookRejection) {}
}
