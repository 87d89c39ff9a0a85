import Foundation
import TickwireCore

/// `type: http` — forwards events to a chatbot or agent console.
///
/// ```yaml
/// sinks:
///   console:
///     type: http
///     url: "https://console.example.org/hooks"
///     format: cloudevents            # cloudevents-binary, cloudevents-batch, native
///     secret: "${CONSOLE_SECRET}"    # whsec_… : Standard Webhooks signatures
///     retry: { max_attempts: 20, max_age: 24h, initial_backoff: 5s, max_backoff: 4h }
///     concurrency: 8                 # requests in flight; one message's events stay in order
///     circuit_breaker: { failures: 5, probe_interval: 30s }
/// ```
public struct HTTPForwarderConfig: Sendable, Decodable {
    /// The largest `concurrency`: requests in flight for new events (as many again for retries).
    static let maxConcurrency = 256

    public enum Format: String, Sendable, ConfigEnum {
        /// One event per request, `application/cloudevents+json`.
        case cloudevents
        /// One event per request, attributes in `ce-*` headers, `data` as the body.
        case cloudeventsBinary = "cloudevents-binary"
        /// Up to `batch_size` events per request, `application/cloudevents-batch+json`.
        case cloudeventsBatch = "cloudevents-batch"
        /// The provider's payload (`data.raw`) in the provider's content type.
        case native
    }

    /// The defaults spread 20 attempts over about a day, like Svix's schedule: exponential
    /// from 5 s, capped at 4 h, with full jitter; `max_age` ends it at 24 h in any case.
    public struct Retry: Sendable, Decodable {
        var maxAttempts = 20
        var maxAge = ConfigDuration(duration: .seconds(86400), description: "24h")
        var initialBackoff = ConfigDuration(duration: .seconds(5), description: "5s")
        var maxBackoff = ConfigDuration(duration: .seconds(4 * 3600), description: "4h")

        enum CodingKeys: String, CodingKey {
            case maxAttempts = "max_attempts", maxAge = "max_age", initialBackoff = "initial_backoff", maxBackoff = "max_backoff"
        }

        init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maxAttempts = try c.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? maxAttempts
            maxAge = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxAge) ?? maxAge
            initialBackoff = try c.decodeIfPresent(ConfigDuration.self, forKey: .initialBackoff) ?? initialBackoff
            maxBackoff = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxBackoff) ?? maxBackoff
            guard maxAttempts >= 1 else { throw ConfigIssue("max_attempts must be at least 1") }
            // Zero would spend every attempt within milliseconds.
            guard initialBackoff.duration > .zero else { throw ConfigIssue("initial_backoff must be longer than zero") }
            guard maxBackoff.duration >= initialBackoff.duration else { throw ConfigIssue("max_backoff must not be shorter than initial_backoff") }
        }

        var policy: RetryPolicy {
            RetryPolicy(maxAttempts: maxAttempts, maxAge: maxAge.duration, initialBackoff: initialBackoff.duration, maxBackoff: maxBackoff.duration)
        }
    }

    /// After `failures` requests in a row failed, one probe per `probe_interval`;
    /// `failures: 0` turns the breaker off.
    public struct Breaker: Sendable, Decodable {
        var failures = 5
        var probeInterval = ConfigDuration(duration: .seconds(30), description: "30s")

        enum CodingKeys: String, CodingKey { case failures, probeInterval = "probe_interval" }

        init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            failures = try c.decodeIfPresent(Int.self, forKey: .failures) ?? failures
            probeInterval = try c.decodeIfPresent(ConfigDuration.self, forKey: .probeInterval) ?? probeInterval
            guard failures >= 0 else { throw ConfigIssue("failures must be 0 (off) or more") }
            guard probeInterval.duration > .zero else { throw ConfigIssue("probe_interval must be longer than 0s") }
        }

        var policy: CircuitBreaker.Policy? {
            failures == 0 ? nil : CircuitBreaker.Policy(failures: failures, probeInterval: probeInterval.duration)
        }
    }

    public var url: String
    public var format: Format = .cloudevents
    /// Standard Webhooks signing keys (`whsec_` + base64); several during a rotation.
    public var secrets: [String] = []
    public var headers: [String: String] = [:]
    public var timeout = ConfigDuration(duration: .seconds(10), description: "10s")
    public var batchSize = 100
    /// How long a short batch waits to fill (cloudevents-batch).
    public var batchWait = ConfigDuration(duration: .milliseconds(50), description: "50ms")
    /// Requests in flight at once, to distinct messages.
    public var concurrency = 8
    public var retry = Retry()
    public var circuitBreaker = Breaker()

    enum CodingKeys: String, CodingKey {
        case url, format, secret, secrets, headers, timeout, retry, concurrency
        case batchSize = "batch_size", batchWait = "batch_wait", circuitBreaker = "circuit_breaker"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decode(String.self, forKey: .url)
        format = try c.decodeIfPresent(Format.self, forKey: .format) ?? format
        secrets = (try c.decodeSecretIfPresent(String.self, forKey: .secret)).map { [$0] } ?? []
        secrets += try c.decodeSecretIfPresent([String].self, forKey: .secrets) ?? []
        headers = try c.decodeSecretIfPresent([String: String].self, forKey: .headers) ?? [:]
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? timeout
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        batchWait = try c.decodeIfPresent(ConfigDuration.self, forKey: .batchWait) ?? batchWait
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? concurrency
        retry = try c.decodeIfPresent(Retry.self, forKey: .retry) ?? retry
        circuitBreaker = try c.decodeIfPresent(Breaker.self, forKey: .circuitBreaker) ?? circuitBreaker
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw ConfigIssue("url must be an http:// or https:// URL")
        }
        // The HTTP client would drop them silently, and every event would meet a 401.
        guard parsed.user == nil, parsed.password == nil else {
            throw ConfigIssue("url must not hold a user or password (they are not sent): put them in headers, e.g. Authorization")
        }
        for (name, value) in headers {
            guard name.isHTTPToken else {
                throw ConfigIssue("headers: \"\(name)\" is not a valid header name")
            }
            // The value is likely a secret: the client's error would quote it in logs and in
            // every retry reason, so it is refused here, by name only.
            guard value.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
                throw ConfigIssue("headers: the value of \"\(name)\" holds a line break or another control character (a secret read with its trailing newline?)")
            }
        }
        guard (1...1000).contains(batchSize) else { throw ConfigIssue("batch_size must be 1 to 1000") }
        guard (1...Self.maxConcurrency).contains(concurrency) else { throw ConfigIssue("concurrency must be 1 to \(Self.maxConcurrency)") }
        guard timeout.duration > .zero else { throw ConfigIssue("timeout must be longer than 0s") }
        for secret in secrets {
            // Never echo the secret itself.
            guard let key = WebhookSigner.key(from: secret) else {
                throw ConfigIssue("secret must be \"whsec_\" followed by base64 (Standard Webhooks)")
            }
            // A short key can be guessed from one signed request; Standard Webhooks asks for
            // 24 to 64 bytes, what consoles generate.
            guard key.bitCount >= WebhookSigner.shortestKey * 8 else {
                throw ConfigIssue(
                    "secret: the key is \(key.bitCount / 8) bytes, at least \(WebhookSigner.shortestKey) are needed "
                        + "(whsec_ followed by the base64 of 32 random bytes: openssl rand -base64 32)")
            }
        }
    }
}
