import Foundation
import Logging

/// A destination for events: a store, a file, a remote console.
///
/// The dispatcher calls `deliver` with batches in journal order and advances the
/// subscription's cursor only over events the sink reports as delivered, so a sink must
/// not report success before the events are safe on its side.
public protocol Sink: Sendable {
    /// Delivers a batch; the report has one outcome per event, in the same order.
    func deliver(_ batch: [Event]) async -> DeliveryReport

    /// How the dispatcher retries events this sink reported as `.retry`.
    var retryPolicy: RetryPolicy { get }

    /// The most events to hand over in one `deliver` call.
    var maxBatchSize: Int { get }

    /// How long to wait for a batch to fill before sending a smaller one (zero: send what
    /// is there).
    var batchWait: Duration { get }

    /// In which order the dispatcher hands events over, and what a failure holds back.
    var ordering: DeliveryOrdering { get }

    /// Pauses the destination after a run of failed deliveries; shared by every
    /// subscription that uses this sink, since they all reach the same destination.
    var circuitBreaker: CircuitBreaker? { get }

    /// Releases files, connections and clients; called once, after the last `deliver` has
    /// returned, or was given up on at a shutdown (a write on a hung disk): a `deliver` may
    /// then still be running.
    func shutdown() async
}

extension Sink {
    public var retryPolicy: RetryPolicy { .untilDelivered }
    public var maxBatchSize: Int { 256 }
    public var batchWait: Duration { .zero }
    public var ordering: DeliveryOrdering { .journal }
    public var circuitBreaker: CircuitBreaker? { nil }
    public func shutdown() async {}
}

/// What a failed delivery holds back.
public enum DeliveryOrdering: Sendable, Equatable {
    /// Strictly in journal order, one batch at a time: a failing event holds back every
    /// event after it until it is delivered or dead-lettered (local sinks, where a failure
    /// is the disk, and retrying in place is right).
    case journal
    /// Events with the same ordering key (the message they are about) keep journal order;
    /// other keys are not held up: an event being retried is parked in the journal's retry
    /// queue with the events of its key queued behind it, and up to `concurrency`
    /// deliveries run at once (remote destinations).
    case perSubject(concurrency: Int)
}

/// Builds a sink from its configuration (`sinks.NAME` in YAML).
public protocol SinkFactory: Sendable {
    /// The sink's options; `type` is read by the loader and is not part of it.
    associatedtype Config: Decodable & Sendable

    /// The `type:` name in YAML.
    static var name: String { get }

    /// Checks options that decoding cannot (a URL's scheme, a template's placeholders).
    static func validate(_ config: Config) throws(ConfigIssue)

    /// Whether the sink sends the provider's request bytes (`Event.raw`): the journal keeps
    /// them only for orgs with such a subscription, since they double what it writes.
    static func needsRawPayload(_ config: Config) -> Bool

    /// Whether the org API answers status lookups from this sink. An org subscribes to at
    /// most one such sink: with two (one filtered to a channel, say), the API would read
    /// whichever came first and answer 404 for what the other holds.
    static var answersStatusQueries: Bool { get }

    /// Opens files and connections: called when the daemon starts, not by `check`.
    static func make(config: Config, context: SinkContext) async throws -> any Sink
}

extension SinkFactory {
    public static func validate(_ config: Config) throws(ConfigIssue) {}
    public static func needsRawPayload(_ config: Config) -> Bool { false }
    public static var answersStatusQueries: Bool { false }
}

/// What the daemon gives a sink when it starts.
public struct SinkContext: Sendable {
    public var name: String
    /// Whether commits must reach the disk (`storage.durability: full`).
    public var durability: Durability
    /// `storage.directory`: where a sink keeps its own state (an outbox, a store) by default.
    public var dataDirectory: String
    public var logger: Logger

    public init(name: String, durability: Durability, dataDirectory: String = "data", logger: Logger) {
        self.name = name
        self.durability = durability
        self.dataDirectory = dataDirectory
        self.logger = logger
    }
}

/// One event's fate in a delivery.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    /// Worth trying again later (destination down, timeout, 5xx); `after` is a hint.
    case retry(reason: String, after: Duration? = nil)
    /// Will never succeed (a 4xx refusal): goes to the dead letter at once.
    case reject(reason: String)
}

public struct DeliveryReport: Sendable, Equatable {
    public var outcomes: [DeliveryOutcome]
    /// The request the delivery made, for sinks that make one (recorded as an attempt).
    public var request: RequestRecord?

    public init(outcomes: [DeliveryOutcome], request: RequestRecord? = nil) {
        self.outcomes = outcomes
        self.request = request
    }

    public static func all(_ outcome: DeliveryOutcome, count: Int, request: RequestRecord? = nil) -> DeliveryReport {
        DeliveryReport(outcomes: Array(repeating: outcome, count: count), request: request)
    }

    /// True when nothing was delivered or refused: the destination did not answer usefully
    /// (what opens a circuit breaker).
    public var failedEntirely: Bool {
        !outcomes.isEmpty && outcomes.allSatisfy { if case .retry = $0 { true } else { false } }
    }
}

/// One request to a destination: its answer's status (nil when none came), how long it
/// took, and the error when it failed.
public struct RequestRecord: Sendable, Equatable {
    public var status: Int?
    public var latency: Duration
    public var error: String?

    public init(status: Int?, latency: Duration, error: String? = nil) {
        self.status = status
        self.latency = latency
        self.error = error
    }
}

/// When the dispatcher stops retrying an event and moves it to the dead letter.
public struct RetryPolicy: Sendable, Equatable {
    /// nil: retry for ever (local sinks, where giving up would lose the event).
    public var maxAttempts: Int?
    public var maxAge: Duration?
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(maxAttempts: Int?, maxAge: Duration?, initialBackoff: Duration, maxBackoff: Duration) {
        self.maxAttempts = maxAttempts
        self.maxAge = maxAge
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    public static let untilDelivered = RetryPolicy(
        maxAttempts: nil, maxAge: nil, initialBackoff: .milliseconds(200), maxBackoff: .seconds(30))

    /// The wait before attempt `attempt + 1` (attempt counts from 1): exponential, capped,
    /// with full jitter so that many retrying subscriptions do not hit a destination at once.
    public func backoff(afterAttempt attempt: Int, jitter: Double = Double.random(in: 0...1)) -> Duration {
        let base = initialBackoff * min(pow(2.0, Double(max(0, attempt - 1))), 1_048_576.0)
        let capped = min(base, maxBackoff)
        return capped * jitter
    }

    /// When the next attempt goes: `wait` after `now`, but never after `maxAge` from the
    /// first attempt, so that `maxAge` ends the retries in any case (the last one goes at the
    /// deadline; failing, it is the last).
    public func nextAttempt(after now: Date, wait: Duration, firstAttempt: Date) -> Date {
        let next = now.addingTimeInterval(wait.secondsValue)
        guard let maxAge else { return next }
        return max(now, min(next, firstAttempt.addingTimeInterval(maxAge.secondsValue)))
    }

    /// Whether another attempt is allowed after `attempts` failures over `age`.
    public func allowsRetry(attempts: Int, age: Duration) -> Bool {
        if let maxAttempts, attempts >= maxAttempts { return false }
        if let maxAge, age >= maxAge { return false }
        return true
    }
}

public enum Durability: String, Sendable, Codable, CaseIterable {
    /// fsync on every commit: nothing acknowledged is lost even on power failure.
    case full
    /// fsync at checkpoints only: survives a process crash, not a power cut.
    case normal
}
