import Foundation

/// What an adapter knows about the channel a request came in on.
public struct ChannelContext: Sendable {
    public var org: String
    public var channel: String
    public var provider: String

    public init(org: String, channel: String, provider: String) {
        self.org = org
        self.channel = channel
        self.provider = provider
    }
}

/// Turns one provider's callbacks into events.
///
/// An adapter is a type plus one registration line (`Registry.register(provider:)`); its
/// channel options are decoded by its own `Config` type, so errors name its own keys.
public protocol ProviderAdapter: Sendable {
    /// Channel options beyond the common `provider`, `auth` and `public_url` keys.
    associatedtype Config: Decodable & Sendable = NoOptions

    /// The `provider:` name in YAML.
    static var name: String { get }
    /// The content types this provider posts; others are answered 415.
    static var mediaTypes: [String] { get }

    init(config: Config)

    /// Parses a POST body into events. A body that is not the provider's syntax at all
    /// throws a 400 `WebhookRejection`; a body that parses but is not understood becomes a
    /// `provider.unknown` event, never an error.
    func normalize(_ request: WebhookRequest, channel: ChannelContext) throws(WebhookRejection) -> [Event]

    /// The answer after the events are durable; JSON `{"accepted", "ids"}` by default.
    func acknowledgement(for request: WebhookRequest, eventIDs: [String]) -> WebhookResponse
}

extension ProviderAdapter {
    public static var mediaTypes: [String] { ["application/json"] }

    public func acknowledgement(for request: WebhookRequest, eventIDs: [String]) -> WebhookResponse {
        .json(["accepted": .int(Int64(eventIDs.count)), "ids": .array(eventIDs.map(JSONValue.string))])
    }
}

/// The `Config` of plugins that take no options.
public struct NoOptions: Decodable, Sendable {
    public init() {}
}
