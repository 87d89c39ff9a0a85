import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Synchronization
import NIOHTTP1
import TickwireCore

/// The hot path, without an HTTP framework: provider POST → channel auth → normalize →
/// durable journal append → answer.
///
/// Two transports run it: `WebhookChannelHandler` on the event loop (every webhook POST
/// normally), and the Hummingbird route in `WebhookIngress` (a POST pipelined behind
/// another request on its connection, and the router-only test mode).
///
/// Nothing is answered 2xx before the journal has the events durably; every refusal is a
/// 4xx with a JSON error body and stores nothing.
struct WebhookIngest: Sendable {
    let gateway: Gateway
    let metrics: GatewayMetrics
    let logger: Logger
    let refusals = RefusalLog()
    /// Calls given up on (`receive`'s answer): one line per call would flood the log for as
    /// long as a disk hangs.
    let givenUp = RefusalLog()
    /// Bytes of webhook bodies being read or waiting for their answer, across every
    /// connection.
    var bodyBudget = BodyBudget()

    /// One POST as received, whichever transport read it: the org and channel from its path,
    /// its target and headers, and its body (nil when it was longer than
    /// `server.max_body_bytes` and was not kept).
    struct Call: Sendable {
        var org: String
        var channel: String
        /// The request target: path and query.
        var uri: String
        /// Names lower-cased; a repeated header keeps its first value.
        var headers: [String: String]
        var body: [UInt8]?
        /// What the head alone decided (`checkHead`), before the body was read; nil when
        /// it was not checked yet.
        var head: Result<WebhookRequest, WebhookRejection>?
        /// The body did not fit in the bodies being read at once (`BodyBudget`): answered 503.
        var overBudget = false
        /// The body's share of `BodyBudget`, given back once the call is answered.
        var heldBytes = 0
        var started = ContinuousClock.now

        /// From NIO's request head (`WebhookChannelHandler`).
        init(org: String, channel: String, head: HTTPRequestHead, body: [UInt8]? = nil) {
            var headers: [String: String] = [:]
            for (name, value) in head.headers {
                let name = name.lowercased()
                if headers[name] == nil { headers[name] = value }
            }
            self.init(org: org, channel: channel, uri: head.uri, headers: headers, body: body)
        }

        /// From Hummingbird's request head (the router's webhook routes).
        init(org: String, channel: String, head: HTTPRequest, body: [UInt8]?) {
            self.init(org: org, channel: channel, uri: head.path ?? "/", headers: Self.headers(head.headerFields), body: body)
        }

        init(org: String, channel: String, uri: String, headers: [String: String], body: [UInt8]?) {
            self.org = org
            self.channel = channel
            self.uri = uri
            self.headers = headers
            self.body = body
        }

        static func headers(_ fields: HTTPFields) -> [String: String] {
            var headers: [String: String] = [:]
            for field in fields where headers[field.name.canonicalName] == nil {
                headers[field.name.canonicalName] = field.value
            }
            return headers
        }

        func webhookRequest(method: WebhookRequest.Method) -> WebhookRequest {
            // Most providers put nothing in the query: skip parsing it for them.
            let query = uri.utf8.contains(UInt8(ascii: "?")) ? QueryParameters(URI(uri)).values : [:]
            return WebhookRequest(method: method, uri: uri, headers: headers, query: query, body: body ?? [])
        }
    }

    /// Answers `call` through `reply`, once: at once for a refusal, from the journal's
    /// thread once the events are durable. `config` is one snapshot for the whole call (a
    /// reload mid-request does not mix two configurations).
    ///
    /// Returns what gives up on the journal: it answers 503 now unless the call was
    /// answered, for a transport whose wait ran past `server.idle_timeout` (a disk that
    /// hangs its fsync). The journal's answer, when it comes, is then dropped; the body's
    /// share of the budget is given back only then, since the journal holds it until then.
    @discardableResult
    func receive(_ call: Call, config: Config, reply: @escaping @Sendable (WebhookResponse) -> Void) -> @Sendable () -> Void {
        // Names not in the config are counted as "unknown": URL text never becomes a label.
        let org = config.orgs[call.org]
        let channel = org?.channels[call.channel]
        let (orgName, channelName) = (org?.name ?? "unknown", channel?.name ?? "unknown")
        let answered = AnswerOnce()
        let send: @Sendable (WebhookResponse) -> Bool = { [metrics] response in
            guard answered.claim() else { return false }
            metrics.request(org: orgName, channel: channelName, status: response.status, duration: ContinuousClock.now - call.started)
            reply(response)
            return true
        }
        run(call, org: org, channel: channel, maxBodyBytes: config.server.maxBodyBytes) { [bodyBudget] response in
            bodyBudget.give(call.heldBytes, org: call.org)
            _ = send(response)
        }
        return { [givenUp, logger] in
            guard send(Self.journalUnavailable.response) else { return }
            givenUp.admit(logger) {
                logger.error("the journal did not answer within server.idle_timeout; answered 503", metadata: ["org": "\(orgName)", "channel": "\(channelName)"])
            }
        }
    }

    private func run(
        _ call: Call, org: OrgConfig?, channel: ChannelConfig?, maxBodyBytes: Int, reply: @escaping @Sendable (WebhookResponse) -> Void
    ) {
        // Refusals of the request (unknown channel, content type, size, credentials) are
        // logged at info, with the answer's own fixed message as the reason: never a secret.
        // Anyone can send them, so a flood is logged as a count (RefusalLog).
        func refuse(_ rejection: WebhookRejection) {
            refusals.admit(logger) {
                logger.info("webhook refused", metadata: [
                    "org": "\(Self.printable(call.org))", "channel": "\(Self.printable(call.channel))",
                    "code": "\(rejection.code)", "reason": "\(rejection.message)",
                ])
            }
            reply(rejection.response)
        }
        guard let org, let channel else {
            return refuse(Self.unknownChannel(call.org, call.channel))
        }
        let head: WebhookRequest
        switch call.head ?? Self.checkHead(call, channel: channel) {
        case .success(let request): head = request
        case .failure(let rejection): return refuse(rejection)
        }
        if call.overBudget {
            return refuse(WebhookRejection(status: 503, code: "busy", message: "too many request bodies are being read; retry later"))
        }
        guard let body = call.body else {
            return refuse(Self.tooLarge(maxBodyBytes))
        }
        var webhook = head
        webhook.body = body
        let contentType = call.headers["content-type"]
        let channelContext = ChannelContext(org: org.name, channel: channel.name, provider: channel.provider)
        // Token and basic credentials were checked whole on the head: not again per webhook.
        if channel.authenticator.checksBody {
            do {
                try channel.authenticator.authenticate(webhook)
            } catch {
                return refuse(error)
            }
        }
        var events: [Event]
        do {
            events = try channel.adapter.normalize(webhook, channel: channelContext)
        } catch {
            // Counted past the budget like the other refusals: on an `auth: none` channel
            // anyone can send these.
            refusals.admit(logger) {
                logger.warning("webhook body refused", metadata: [
                    "org": "\(org.name)", "channel": "\(channel.name)", "code": "\(error.code)", "reason": "\(error.message)",
                ])
            }
            // Authenticated but unreadable: keep the body for the operator (bounded). A 4xx
            // is not retried, so a body that cannot be kept is answered 503 instead: the
            // provider's retry is kept once the journal takes writes again.
            let journal = gateway.journal
            Task { [logger] in
                do {
                    try await journal.quarantine(
                        org: org.name, channel: channel.name, reason: error.message, contentType: contentType, body: body)
                    reply(error.response)
                } catch let failure {
                    logger.error("refused body could not be kept", metadata: [
                        "org": "\(org.name)", "channel": "\(channel.name)", "error": "\(failure)",
                    ])
                    reply(Self.journalUnavailable.response)
                }
            }
            return
        }
        if org.keepsRawPayload {
            let raw = RawPayload(contentType: contentType, body: body)
            for index in events.indices { events[index].raw = raw }
        }
        let ids = events.map(\.id)
        let acknowledgement = channel.adapter.acknowledgement(for: webhook, eventIDs: ids)
        gateway.journal.append(events) { [events, metrics, logger] result in
            switch result {
            case .success(let sequences):
                // A provider's retry is answered like the first delivery but journals nothing.
                metrics.accepted(zip(events, sequences).lazy.filter { $0.1 != nil }.map(\.0))
                logger.debug("webhook accepted", metadata: [
                    "org": "\(org.name)", "channel": "\(channel.name)", "event_id": "\(ids.joined(separator: ","))",
                ])
                reply(acknowledgement)
            case .failure(let error):
                logger.error("journal append failed", metadata: ["org": "\(org.name)", "channel": "\(channel.name)", "error": "\(error)"])
                reply(Self.journalUnavailable.response)
            }
        }
    }

    /// Whether a call was answered: the journal and a transport giving up on it may both try.
    final class AnswerOnce: Sendable {
        private let done = Atomic<Bool>(false)

        func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
    }

    static let journalUnavailable = WebhookRejection(status: 503, code: "journal_unavailable", message: "the event could not be stored; retry later")

    /// Checks what `call`'s head alone decides and returns the reader for its body. A body
    /// the head already refuses (unknown channel, content type, credentials that need no
    /// body) is read and dropped, never kept: its answer does not depend on it, and anyone
    /// can send one.
    func body(for call: inout Call, config: Config) -> Body {
        if let channel = config.orgs[call.org]?.channels[call.channel] {
            call.head = Self.checkHead(call, channel: channel)
        } else {
            call.head = .failure(Self.unknownChannel(call.org, call.channel))
        }
        let keeping = if case .success = call.head { true } else { false }
        return Body(limit: config.server.maxBodyBytes, keeping: keeping, budget: bodyBudget, org: call.org)
    }

    /// The content type and the channel's head-only credentials check; on success, the
    /// request without its body.
    static func checkHead(_ call: Call, channel: ChannelConfig) -> Result<WebhookRequest, WebhookRejection> {
        if let mediaType = WebhookRequest.mediaType(of: call.headers["content-type"]), !channel.mediaTypes.contains(mediaType) {
            return .failure(.unsupportedMediaType(mediaType, expected: channel.mediaTypes))
        }
        let request = call.webhookRequest(method: .post)
        do {
            try channel.authenticator.authenticateHead(request)
        } catch {
            return .failure(error)
        }
        return .success(request)
    }

    /// A GET on the webhook URL: the provider's verification handshake (Meta), if its auth has one.
    func handshake(org orgName: String, channel channelName: String, head: HTTPRequest, config: Config) -> WebhookResponse {
        guard let channel = config.orgs[orgName]?.channels[channelName] else {
            return Self.unknownChannel(orgName, channelName).response
        }
        let request = Call(org: orgName, channel: channelName, head: head, body: nil).webhookRequest(method: .get)
        guard let answer = channel.authenticator.handshake(request) else {
            return WebhookRejection(status: 405, code: "method_not_allowed", message: "this channel takes POST only").response
        }
        return answer
    }

    static func unknownChannel(_ org: String, _ channel: String) -> WebhookRejection {
        .notFound("no channel \"\(printable(channel))\" in org \"\(printable(org))\"")
    }

    static func tooLarge(_ limit: Int) -> WebhookRejection {
        WebhookRejection(status: 413, code: "body_too_large", message: "the body is larger than \(limit) bytes")
    }

    /// A webhook body read chunk by chunk, for both transports. Past `limit` the rest is
    /// read and thrown away, and the call is refused once the body ended: clients that send
    /// the whole body before reading (most HTTP libraries) never see an answer that comes
    /// while they are still writing. Past `maxDiscardBytes` more, reading stops.
    struct Body {
        static let maxDiscardBytes = 64 * 1024 * 1024

        let limit: Int
        /// False for a body that is only read to be thrown away (its answer does not depend on it).
        private(set) var keeping: Bool
        /// The bytes kept were more than `budget` had left.
        private(set) var overBudget = false
        private let budget: BodyBudget?
        /// Whose share of `budget` the bytes are.
        private let org: String
        private var buffer = Self.empty
        /// Shared by every body not holding bytes: `ByteBuffer()` allocates, and a webhook
        /// would make three.
        private static let empty = ByteBuffer()
        private var total = 0

        init(limit: Int, keeping: Bool = true, budget: BodyBudget? = nil, org: String = "") {
            self.limit = limit
            self.keeping = keeping
            self.budget = budget
            self.org = org
        }

        /// Takes a chunk; false once so much came that reading should stop (far past the
        /// limit, or past what all connections may hold at once).
        mutating func add(_ chunk: inout ByteBuffer) -> Bool {
            total += chunk.readableBytes
            if keeping && total <= limit {
                if let budget, !budget.take(chunk.readableBytes, org: org, bodyLimit: limit) {
                    overBudget = true
                    drop()
                    return false
                }
                buffer.writeBuffer(&chunk)
            } else {
                drop()
            }
            return total <= limit + Self.maxDiscardBytes
        }

        /// Sets the call's body: the bytes, or nil when the body was longer than `limit` or
        /// not kept. Their share of the budget stays taken until the call is answered
        /// (`Call.heldBytes`): while the journal waits for a slow disk, bodies waiting for
        /// their fsync are memory too, and without this more kept coming for as long as
        /// providers opened connections.
        mutating func finish(into call: inout Call) {
            guard keeping && !overBudget && total <= limit else {
                call.body = nil
                return drop()
            }
            call.body = Array(buffer: buffer)
            call.heldBytes = buffer.readableBytes
            buffer = Self.empty
            keeping = false
        }

        /// Throws away what was kept (the connection closed, or the body is refused anyway).
        mutating func drop() {
            budget?.give(buffer.readableBytes, org: org)
            buffer = Self.empty
            keeping = false
        }
    }

    /// Names from the URL, shortened and stripped of control characters before they are echoed.
    static func printable(_ text: String) -> String {
        String(text.withoutControlCharacters.prefix(64))
    }
}

/// How many bytes of webhook bodies all connections may hold while reading them and until
/// they are answered. Each may hold up to `max_body_bytes` before a signature over it can
/// be checked (only what the head decides is checked before:
/// `WebhookIngest.body(for:config:)`): without a bound, connections trickling 4 MiB bodies
/// could hold any amount of memory. Past it, the body is answered 503 (providers retry).
///
/// Past half of it, a body that would take its org past the org's share (an eighth, and at
/// least two bodies of `max_body_bytes`) is refused: anyone who knows a Meta or Twilio
/// channel's URL can send bodies with a well-formed signature header, which are kept until
/// they can be checked, and without a share per org they filled the whole budget and every
/// org's webhooks were answered 503. Below half, an org alone (or one busy org) may use it.
final class BodyBudget: Sendable {
    let limit: Int
    let orgShare: Int
    private struct Held {
        var total = 0
        var byOrg: [String: Int] = [:]
    }
    private let held = Mutex(Held())

    init(limit: Int = 256 * 1024 * 1024, orgShare: Int? = nil) {
        self.limit = limit
        self.orgShare = orgShare ?? limit / 8
    }

    /// `bodyLimit`: `server.max_body_bytes`, which the share is never below twice.
    func take(_ bytes: Int, org: String, bodyLimit: Int) -> Bool {
        held.withLock { held in
            let total = held.total + bytes
            let orgAfter = held.byOrg[org, default: 0] + bytes
            guard total <= limit, total <= limit / 2 || orgAfter <= max(orgShare, 2 * bodyLimit) else { return false }
            held.total = total
            held.byOrg[org] = orgAfter
            return true
        }
    }

    func give(_ bytes: Int, org: String) {
        guard bytes > 0 else { return }
        held.withLock { held in
            held.total -= bytes
            let left = held.byOrg[org, default: 0] - bytes
            held.byOrg[org] = left > 0 ? left : nil
        }
    }

    var inUse: Int { held.withLock { $0.total } }

    func inUse(org: String) -> Int { held.withLock { $0.byOrg[org] ?? 0 } }
}
