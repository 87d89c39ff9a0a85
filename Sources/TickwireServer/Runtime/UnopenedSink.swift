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
    private let opening: Opening
    private let opened = Mutex<(any Sink)?>(nil)
    private let logger: Logger

    init(type: String, logger: Logger, open: @escaping @Sendable () async throws -> any Sink) {
        self.type = type
        self.logger = logger
        opening = Opening(open: open)
    }

    /// The sink, once it opened.
    var sink: (any Sink)? { opened.withLock { $0 } }

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
    /// not open: with nothing to deliver, no delivery would. One such try at a time.
    func openInBackground() {
        guard trying.withLock({ trying in
            defer { trying = true }
            return !trying
        }) else { return }
        Task {
            _ = try? await openedSink()
            trying.withLock { $0 = false }
        }
    }
    private let trying = Mutex(false)

    private func openedSink() async throws -> any Sink {
        if let sink { return sink }
        let sink = try await opening.sink()
        if opened.withLock({ current in
            defer { current = sink }
            return current == nil
        }) {
            logger.info("sink opened: its subscriptions' events are delivered now")
        }
        return sink
    }

    func shutdown() async {
        await opening.shutdown()
    }

    /// One attempt at a time (subscriptions sharing the sink must not open it twice), and
    /// one per `pause` after a failure: opening may block its thread (SQLite waits up to
    /// 5 s for a lock), and every subscription of the sink retries on its own backoff.
    private actor Opening {
        static let pause: Duration = .seconds(10)
        private let open: @Sendable () async throws -> any Sink
        private var attempt: Task<any Sink, any Error>?
        private var lastFailure: (error: any Error, at: ContinuousClock.Instant)?
        private var sink: (any Sink)?
        private var closed = false

        init(open: @escaping @Sendable () async throws -> any Sink) {
            self.open = open
        }

        func sink() async throws -> any Sink {
            if let sink { return sink }
            guard !closed else { throw CancellationError() }
            if attempt == nil, let lastFailure, ContinuousClock.now - lastFailure.at < Self.pause { throw lastFailure.error }
            let task = attempt ?? Task { [open] in try await open() }
            attempt = task
            defer { if attempt == task { attempt = nil } }
            let opened: any Sink
            do {
                opened = try await task.value
            } catch {
                lastFailure = (error, .now)
                throw error
            }
            // A shutdown meanwhile took the attempt's sink, to close it.
            guard !closed else { throw CancellationError() }
            if sink == nil { sink = opened }
            return sink ?? opened
        }

        /// Closes the sink, and one an attempt in flight opens.
        func shutdown() async {
            closed = true
            if let attempt, let opened = try? await attempt.value, sink == nil { sink = opened }
            await sink?.shutdown()
            sink = nil
        }
    }
}
