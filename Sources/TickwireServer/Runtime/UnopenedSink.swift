import Logging
import Synchronization
import TickwireCore

/// A sink that could not be opened at start (a damaged or locked store, a full disk, a
/// directory it may not write). The daemon serves anyway: one broken destination must not
/// stop every org's webhooks, and Unifonic and Twilio do not retry while it is down. The
/// sink's subscriptions wait in the journal; each delivery tries to open it again (at
/// the retry policy's pace), and once it opens, delivers through it.
///
/// Until then it reports the defaults of `Sink` (journal order, retried in place): what
/// the local sinks use, which are the ones that can fail to open. A reload that cannot
/// open a sink still fails, and the running configuration stays.
final class UnopenedSink: Sink {
    /// The sink's `type` in YAML (`sqlite`: the org API answers 503 until it opens).
    let type: String
    private let open: @Sendable () async throws -> any Sink
    private let logger: Logger
    private let state = Mutex(State())
    /// After a failed attempt, the next waits this long: opening may block its thread
    /// (SQLite waits up to 5 s for a lock), and every subscription of the sink retries on
    /// its own backoff.
    static let pause: Duration = .seconds(10)

    /// One attempt at a time: subscriptions sharing the sink must not open it twice.
    private struct State {
        var sink: (any Sink)?
        var attempt: Task<any Sink, any Error>?
        var lastFailure: (error: any Error, at: ContinuousClock.Instant)?
        var closed = false

        /// Whether a new attempt may start now.
        var attemptDue: Bool {
            sink == nil && attempt == nil && !closed && lastFailure.map { ContinuousClock.now - $0.at >= UnopenedSink.pause } ?? true
        }
    }

    init(type: String, logger: Logger, open: @escaping @Sendable () async throws -> any Sink) {
        self.type = type
        self.logger = logger
        self.open = open
    }

    /// The sink, once it opened.
    var sink: (any Sink)? { state.withLock { $0.sink } }

    // The sink's own settings once it opened: its dispatchers read them at each use.
    var retryPolicy: RetryPolicy { sink?.retryPolicy ?? .untilDelivered }
    var maxBatchSize: Int { sink?.maxBatchSize ?? 256 }
    var batchWait: Duration { sink?.batchWait ?? .zero }
    var circuitBreaker: CircuitBreaker? { sink?.circuitBreaker }

    func deliver(_ batch: [Event]) async -> DeliveryReport {
        do {
            return await (try await openedSink()).deliver(batch)
        } catch {
            return .all(.retry(reason: "the sink cannot be opened: \(error)"), count: batch.count)
        }
    }

    /// Tries to open the sink now, for a reader of its data (the org API) that found it
    /// not open: with nothing to deliver, no delivery would.
    func openInBackground() {
        guard state.withLock({ $0.attemptDue }) else { return }
        Task { _ = try? await openedSink() }
    }

    private func openedSink() async throws -> any Sink {
        if let sink { return sink }
        let attempt = try state.withLock { state throws -> Task<any Sink, any Error>? in
            if state.sink != nil { return nil }
            guard !state.closed else { throw CancellationError() }
            if let attempt = state.attempt { return attempt }
            if !state.attemptDue, let failure = state.lastFailure { throw failure.error }
            let attempt = Task { [open] in try await open() }
            state.attempt = attempt
            return attempt
        }
        guard let attempt else { return try await openedSink() }
        let result = await attempt.result
        let (sink, opened) = try state.withLock { state throws -> (any Sink, Bool) in
            if let sink = state.sink { return (sink, false) }
            if state.attempt == attempt { state.attempt = nil }
            switch result {
            case .failure(let error):
                state.lastFailure = (error, .now)
                throw error
            case .success(let sink):
                // A shutdown meanwhile closes the attempt's sink itself.
                guard !state.closed else { throw CancellationError() }
                state.sink = sink
                return (sink, true)
            }
        }
        if opened { logger.info("sink opened: its subscriptions' events are delivered now") }
        return sink
    }

    /// Closes the sink, or the one an attempt in flight opens.
    func shutdown() async {
        let attempt = state.withLock { state in
            state.closed = true
            return state.attempt
        }
        let late = try? await attempt?.value
        let sink = state.withLock { state in
            defer { state.sink = nil }
            return state.sink ?? late
        }
        await sink?.shutdown()
    }
}
