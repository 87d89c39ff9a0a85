import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import TickwireCore

/// Sends events to an HTTP endpoint in one of the CloudEvents modes or the provider's own
/// format, signed per Standard Webhooks.
///
/// The dispatcher hands over one event at a time (a batch in `cloudevents-batch`), up to
/// `concurrency` at once, never two of the same message at once (per-subject ordering); a
/// retryable failure (408, 429, 5xx, timeout, connection error) parks the event in the
/// journal's retry queue with this sink's policy (`Retry-After` honoured). Other 4xx
/// answers dead-letter the event at once.
public final class HTTPForwarderSink: Sink, Sendable {
    private let config: HTTPForwarderConfig
    private let signer: WebhookSigner
    private let client: HTTPClient
    private let logger: Logger
    public let circuitBreaker: CircuitBreaker?

    init(config: HTTPForwarderConfig, client: HTTPClient = HTTPForwarderSink.client, logger: Logger) {
        self.config = config
        self.signer = WebhookSigner(secrets: config.secrets)
        self.client = client
        self.logger = logger
        self.circuitBreaker = config.circuitBreaker.policy.map(CircuitBreaker.init(policy:))
    }

    public var retryPolicy: RetryPolicy { config.retry.policy }
    public var maxBatchSize: Int { config.format == .cloudeventsBatch ? config.batchSize : 1 }
    public var batchWait: Duration { config.format == .cloudeventsBatch ? config.batchWait.duration : .zero }
    public var ordering: DeliveryOrdering { .perSubject(concurrency: config.concurrency) }

    public func deliver(_ batch: [Event]) async -> DeliveryReport {
        if config.format == .cloudeventsBatch {
            let (outcome, request) = await send(HTTPForwarderRequest.batch(batch))
            return .all(outcome, count: batch.count, request: request)
        }
        // The dispatcher sends one event per call; more are sent in order, stopping at the
        // first failure so nothing overtakes it.
        var outcomes: [DeliveryOutcome] = []
        var last: RequestRecord?
        for event in batch {
            let (outcome, request) = await send(HTTPForwarderRequest.single(event, format: config.format))
            outcomes.append(outcome)
            last = request
            if case .retry = outcome {
                outcomes += Array(repeating: outcome, count: batch.count - outcomes.count)
                break
            }
        }
        return DeliveryReport(outcomes: outcomes, request: last)
    }

    private func send(_ message: HTTPForwarderRequest) async -> (DeliveryOutcome, RequestRecord) {
        var request = HTTPClientRequest(url: config.url)
        request.method = .POST
        for (name, value) in config.headers { request.headers.add(name: name, value: value) }
        for (name, value) in message.headers { request.headers.replaceOrAdd(name: name, value: value) }
        let timestamp = Int(Date().timeIntervalSince1970)
        for (name, value) in signer.headers(id: message.id, timestamp: timestamp, body: message.body) {
            request.headers.replaceOrAdd(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: message.body))
        let started = ContinuousClock.now
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(config.timeout.duration.nanosecondsValue))
            // Drain (and bound) the answer so the connection goes back to the pool, within
            // what is left of `timeout`: the client's own deadline ends with the head, and a
            // console that trickles its body must not hold the request (or a probe) for days.
            let body = response.body
            _ = try? await Self.within(started + config.timeout.duration) { try await body.collect(upTo: 64 * 1024) }
            let status = Int(response.status.code)
            return (
                Self.outcome(status: status, retryAfter: response.headers.first(name: "retry-after")),
                RequestRecord(status: status, latency: ContinuousClock.now - started)
            )
        } catch {
            logger.warning("forwarding failed", metadata: ["event_id": "\(message.id)", "error": "\(error)"])
            return (.retry(reason: "request failed: \(error)"), RequestRecord(status: nil, latency: ContinuousClock.now - started, error: "\(error)"))
        }
    }

    /// Every forwarder's client: AsyncHTTPClient's shared settings, except that redirects
    /// are not followed, and HTTP/1 connections per host are not capped at its default 8.
    /// Followed, a 301 or 302 turns the POST into a GET without a body (an event
    /// "delivered" that never arrived), and a 307 re-sends the signed body and the
    /// configured headers to wherever the console points. A 3xx is an answer like a 4xx.
    /// Capped, requests past 8 waited for a connection inside their `timeout` (failing as
    /// timeouts, opening the breaker), and one org's hung console starved every other sink
    /// on that host. Each subscription's dispatcher bounds its requests (2 × `concurrency`:
    /// new events and retries); 1024 per host is 64 subscriptions at the default
    /// `concurrency` of 8 to one console host, or two at the largest. HTTP/1 only: over
    /// HTTP/2 the client opens one connection per host and queues requests past the
    /// server's stream limit (often 100), which brought the starvation back for consoles
    /// that offer h2.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.httpVersion = .http1Only
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 4 * HTTPForwarderConfig.maxConcurrency
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// `work`'s result, or an error once `deadline` has passed (`work` is cancelled).
    static func within<T: Sendable>(_ deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(until: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw CancellationError() }
            return value
        }
    }

    /// 2xx delivers; 408, 429 and 5xx are retried (after `Retry-After` when given); any
    /// other answer (3xx included: redirects are not followed) will not change by retrying.
    static func outcome(status: Int, retryAfter: String?, now: Date = Date()) -> DeliveryOutcome {
        switch status {
        case 200..<300: return .delivered
        case 408, 429, 500..<600: return .retry(reason: "HTTP \(status)", after: retryAfter.flatMap { Self.retryAfter($0, now: now) })
        default: return .reject(reason: "HTTP \(status)")
        }
    }

    /// `Retry-After` in seconds or as an HTTP date; capped at a day.
    static func retryAfter(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text), seconds >= 0 { return .seconds(min(seconds, 86400)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return .seconds(Int(max(0, min(date.timeIntervalSince(now), 86400))))
    }
}

extension HTTPForwarderSink: SinkFactory {
    public static let name = "http"

    public static func needsRawPayload(_ config: HTTPForwarderConfig) -> Bool { config.format == .native }

    public static func make(config: HTTPForwarderConfig, context: SinkContext) async throws -> any Sink {
        HTTPForwarderSink(config: config, logger: context.logger)
    }
}
