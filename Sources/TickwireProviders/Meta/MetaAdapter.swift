import TickwireCore

/// `provider: meta`: WhatsApp Cloud API webhooks, straight from Meta. Pair it with
/// `auth: {type: meta}` (X-Hub-Signature-256 and the verification handshake).
public struct MetaAdapter: ProviderAdapter {
    public static let name = "meta"

    public init(config: NoOptions) {}

    public func normalize(_ request: WebhookRequest, channel: ChannelContext) throws(WebhookRejection) -> [Event] {
        try JSONBody.events(request, channel: channel, provider: "Meta webhook") { body, n in
            MetaWebhook(body: body, dialect: .meta).events(n)
        }
    }
}
