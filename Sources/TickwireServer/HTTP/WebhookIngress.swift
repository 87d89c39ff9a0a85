import Foundation
import Hummingbird
import Logging
import NIOCore
import TickwireCore

/// The hot path: provider POST → channel auth → normalize → durable journal append → 2xx.
///
/// Nothing is answered 2xx before the journal has the events durably; every refusal is a
/// 4xx with a JSON error body and stores nothing.
struct WebhookIngress: Sendable {
    let gateway: Gateway
    let metrics: GatewayMetrics
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/webhooks/:org/:channel") { request, context in
            let started = ContinuousClock.now
            let config = gateway.config
            let response = try await receive(request, context: context, config: config)
            // Names not in the config are counted as "unknown": URL text never becomes a label.
            let org = context.parameters.get("org").flatMap { config.orgs[$0] }
            let channel = context.parameters.get("channel").flatMap { org?.channels[$0] }
            metrics.request(
                org: org?.name ?? "unknown", channel: channel?.name ?? "unknown", status: response.status.code,
                duration: ContinuousClock.now - started)
            return response
        }
        router.get("/v1/webhooks/:org/:channel") { request, context in
            try await handshake(request, context: context)
        }
    }

    /// Handles one callback against one configuration snapshot (a reload mid-request does
    /// not mix two configurations).
    func receive(_ request: Request, context: BasicRequestContext, config: Config) async throws -> Response {
        let org: OrgConfig, channel: ChannelConfig
        do {
            (org, channel) = try lookUpChannel(context, config: config)
        } catch {
            return respond(error.response)
        }
        if let mediaType = WebhookRequest.mediaType(of: request.headers[.contentType]), !channel.mediaTypes.contains(mediaType) {
            return respond(WebhookRejection.unsupportedMediaType(mediaType, expected: channel.mediaTypes).response)
        }
        let limit = config.server.maxBodyBytes
        guard let body = try await Self.readBody(request.body, limit: limit) else {
            return Self.refuseTooLarge(limit)
        }
        let webhook = Self.webhookRequest(request, method: .post, body: Array(buffer: body))
        let channelContext = ChannelContext(org: context.parameters.get("org") ?? "", channel: channel.name, provider: channel.provider)
        do {
            try channel.authenticator.authenticate(webhook)
        } catch {
            logger.info("webhook refused", metadata: ["org": "\(channelContext.org)", "channel": "\(channel.name)", "code": "\(error.code)"])
            return respond(error.response)
        }
        var events: [Event]
        do {
            events = try channel.adapter.normalize(webhook, channel: channelContext)
        } catch {
            logger.warning("webhook body refused", metadata: [
                "org": "\(channelContext.org)", "channel": "\(channel.name)", "code": "\(error.code)", "reason": "\(error.message)",
            ])
            // Authenticated but unreadable: keep the body for the operator (bounded).
            try? await gateway.journal.quarantine(
                org: channelContext.org, channel: channel.name, reason: error.message, contentType: webhook.header("content-type"),
                body: webhook.body)
            return respond(error.response)
        }
        if org.keepsRawPayload {
            let raw = RawPayload(contentType: webhook.header("content-type"), body: webhook.body)
            for index in events.indices { events[index].raw = raw }
        }
        do {
            try await gateway.journal.append(events)
        } catch {
            logger.error("journal append failed", metadata: ["org": "\(channelContext.org)", "channel": "\(channel.name)", "error": "\(error)"])
            return respond(WebhookRejection(status: 503, code: "journal_unavailable", message: "the event could not be stored; retry later").response)
        }
        metrics.accepted(events)
        logger.debug("webhook accepted", metadata: [
            "org": "\(channelContext.org)", "channel": "\(channel.name)", "events": "\(events.count)",
            "event_id": "\(events.first?.id ?? "")",
        ])
        return respond(channel.adapter.acknowledgement(for: webhook, eventIDs: events.map(\.id)))
    }

    /// A GET on the webhook URL: the provider's verification handshake (Meta), if its auth has one.
    func handshake(_ request: Request, context: BasicRequestContext) async throws -> Response {
        do {
            let (_, channel) = try lookUpChannel(context, config: gateway.config)
            let webhook = Self.webhookRequest(request, method: .get, body: [])
            guard let answer = channel.authenticator.handshake(webhook) else {
                return respond(WebhookRejection(status: 405, code: "method_not_allowed", message: "this channel takes POST only").response)
            }
            return respond(answer)
        } catch {
            return respond(error.response)
        }
    }

    private func lookUpChannel(_ context: BasicRequestContext, config: Config) throws(WebhookRejection) -> (OrgConfig, ChannelConfig) {
        let orgName = context.parameters.get("org") ?? ""
        let channelName = context.parameters.get("channel") ?? ""
        guard let org = config.orgs[orgName], let channel = org.channels[channelName] else {
            throw .notFound("no channel \"\(Self.printable(channelName))\" in org \"\(Self.printable(orgName))\"")
        }
        return (org, channel)
    }

    /// The body, or nil when it is larger than `limit`. A body can be iterated once only, so
    /// this one loop both collects and, past the limit, reads the rest and throws it away:
    /// clients that send the whole body before reading (most HTTP libraries) never see an
    /// answer that comes while they are still writing. Past `maxDiscardBytes` it stops (the
    /// server then drains the rest after answering).
    static func readBody(_ body: RequestBody, limit: Int) async throws -> ByteBuffer? {
        var collected = ByteBuffer()
        var total = 0
        for try await var chunk in body {
            total += chunk.readableBytes
            if total <= limit {
                collected.writeBuffer(&chunk)
            } else if total > limit + maxDiscardBytes {
                break
            }
        }
        return total <= limit ? collected : nil
    }

    private static func refuseTooLarge(_ limit: Int) -> Response {
        respond(WebhookRejection(status: 413, code: "body_too_large", message: "the body is larger than \(limit) bytes").response)
    }

    static let maxDiscardBytes = 64 * 1024 * 1024

    static func webhookRequest(_ request: Request, method: WebhookRequest.Method, body: [UInt8]) -> WebhookRequest {
        var headers: [String: String] = [:]
        for field in request.headers where headers[field.name.canonicalName] == nil {
            headers[field.name.canonicalName] = field.value
        }
        return WebhookRequest(
            method: method, uri: request.uri.description, headers: headers, query: QueryParameters(request).values, body: body)
    }

    /// Names from the URL, shortened and stripped of control characters before they are echoed.
    static func printable(_ text: String) -> String {
        String(text.withoutControlCharacters.prefix(64))
    }
}

func respond(_ response: WebhookResponse) -> Response {
    Response(
        status: HTTPResponse.Status(code: response.status),
        headers: [.contentType: response.contentType],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: response.body)))
}
