import Logging
import NIOConcurrencyHelpers
import TickwireCore

/// Moves one subscription's events from the journal to its sink.
///
/// Reads the journal after the subscription's cursor, hands matching events to the sink in
/// batches, and advances the cursor only over events the sink confirmed (or dead-lettered):
/// after a crash, delivery resumes from the cursor (at-least-once). Each subscription has
/// its own dispatcher, so a slow or failing sink delays nobody else.
final class SubscriptionDispatcher: Sendable {
    let subscription: Subscription
    /// What makes two dispatchers interchangeable across a reload: same subscription, same
    /// filters, same sink options.
    let routeKey: String
    let sink: any Sink
    let journal: any Journal
    let logger: Logger
    let metrics: GatewayMetrics
    let pageSize = 512
    /// How often settlements (the cursor, the retry queue) are written while delivering.
    let settlementInterval: Duration
    // A lock-protected box, not an Atomic: a noncopyable stored property here crashed the
    // Swift 6.3 optimizer in release builds (Pipeline.build).
    private let stopRequested = NIOLockedValueBox(false)
    /// When each delivery in progress started: the oldest one's age is a gauge, which shows
    /// a sink stuck on a hung disk (its backlog alone looks like a slow one).
    private let inFlight = NIOLockedValueBox(DeliveriesInFlight())

    init(
        subscription: Subscription, sink: any Sink, journal: any Journal, logger: Logger,
        metrics: GatewayMetrics = GatewayMetrics(), sinkFingerprint: String = "", settlementInterval: Duration = SettlementBuffer.interval
    ) {
        self.subscription = subscription
        self.settlementInterval = settlementInterval
        let events = subscription.events.map { $0.map(\.description).joined(separator: ",") } ?? "*"
        let channels = subscription.channels?.joined(separator: ",") ?? "*"
        self.routeKey = [subscription.id, subscription.sink, events, channels, sinkFingerprint].joined(separator: "\u{1F}")
        self.sink = sink
        self.journal = journal
        self.logger = logger
        self.metrics = metrics
    }

    /// Publishes how far behind the journal this subscription is (called at scrape time).
    func reportBacklog() async {
        guard let cursor = try? await journal.cursor(subscription: subscription.id),
            let behind = try? await journal.count(org: subscription.org, after: cursor)
        else { return }
        let (id, sinkName) = (subscription.id, subscription.sink)
        unlessStopped { metrics.backlog(subscription: id, sink: sinkName, events: Int64(behind)) }
        if let unopened = sink as? UnopenedSink {
            let waiting = unopened.sink == nil
            unlessStopped { metrics.sinkUnopened(sink: sinkName, waiting) }
        }
        let oldest = inFlight.withLockedValue { $0.oldest }
        unlessStopped { metrics.deliveryInFlight(subscription: id, sink: sinkName, for: oldest.map { .now - $0 } ?? .zero) }
        if let queued = try? await journal.queuedCount(subscription: id) {
            let circuitOpen = sink.circuitBreaker?.isOpen
            unlessStopped { metrics.queued(subscription: id, sink: sinkName, events: queued, circuitOpen: circuitOpen) }
        }
    }

    /// Records a gauge unless this dispatcher was stopped: a reload that stopped it has
    /// removed its gauges, and recording now would bring them back for good. Under the stop
    /// flag's lock, so that a stop comes before or after, never between check and record.
    private func unlessStopped(_ record: () -> Void) {
        stopRequested.withLockedValue { stopped in
            if !stopped { record() }
        }
    }

    /// Sets the cursor of a subscription seen for the first time (DESIGN: `from: end` skips
    /// what was journaled before it existed). Call before ingress opens.
    func prepareCursor() async throws {
        guard try await journal.cursor(subscription: subscription.id) == nil else { return }
        let start = subscription.from == .beginning ? 0 : try await journal.lastSequence()
        try await journal.setCursor(start, subscription: subscription.id)
    }

    /// Delivers until `commits` ends (shutdown, or the subscription was removed); the batch
    /// in progress is finished first.
    /// `wake` feeds `commits`: the dispatcher uses it to wake itself when settlements it
    /// held back while caught up fall due.
    func run(commits: AsyncStream<Void>, wake: AsyncStream<Void>.Continuation) async {
        // New events and the retry queue (events parked after a failure, or put back by a
        // replay) are worked on side by side; when new events end (shutdown, removal), the
        // retry queue stops after its round in hand.
        await withTaskGroup(of: Void.self) { group in
            switch sink.ordering {
            case .journal:
                group.addTask { await self.runPages(commits: commits, wake: wake, self.deliverPageInJournalOrder) }
                group.addTask { await self.runRetryQueue(concurrency: 1) }
            case .perSubject(let concurrency):
                group.addTask {
                    await self.runPages(commits: commits, wake: wake) { cursor, buffer in
                        try await self.deliverPageBySubject(cursor: &cursor, concurrency: concurrency, buffer: &buffer)
                    }
                }
                group.addTask { await self.runRetryQueue(concurrency: concurrency) }
            }
            await group.next()
            self.stop()
        }
    }

    var isStopping: Bool { Task.isCancelled || stopRequested.withLockedValue { $0 } }

    /// Reads the journal page by page after the cursor, waking on commits once caught up.
    /// `deliverPage` delivers one page, records what it decided in the buffer and returns
    /// true when there was nothing left to read.
    private func runPages(
        commits: AsyncStream<Void>, wake: AsyncStream<Void>.Continuation,
        _ deliverPage: (_ cursor: inout Int64, _ buffer: inout SettlementBuffer) async throws -> Bool
    ) async {
        var cursor: Int64?
        var wakeups = commits.makeAsyncIterator()
        var buffer = SettlementBuffer(interval: settlementInterval)
        var wakeSetFor: ContinuousClock.Instant?
        while !isStopping {
            do {
                if cursor == nil { cursor = try await journal.cursor(subscription: subscription.id) ?? 0 }
                let caughtUp = try await deliverPage(&cursor!, &buffer)
                // Caught up or not, settlements are written at most every interval: written on
                // every catch-up they were a journal transaction (and an fsync) per subscription
                // many times a second, and commits waited for the writer behind them
                // (bench/RESULTS.md). When held back while caught up, a wake-up makes sure they
                // are written on time even if no commit comes.
                let due: Duration?
                do {
                    due = try await buffer.flush(force: false, journal: journal, subscription: subscription.id)
                } catch {
                    try await saveWhenPossible(&buffer, error: error)
                    continue
                }
                if let due, caughtUp, wakeSetFor.map({ $0 <= .now }) ?? true {
                    wakeSetFor = .now + due
                    Task {
                        try? await Task.sleep(for: due)
                        wake.yield()
                    }
                }
                if caughtUp, await wakeups.next() == nil { break }
            } catch {
                if isStopping { break }
                logger.error("dispatcher failed; retrying", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
                // What was not written is delivered again from the saved cursor.
                cursor = nil
                buffer = SettlementBuffer(interval: settlementInterval)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        // Also once the shutdown's grace ran out and this task is cancelled: `flush` writes
        // from a task of its own.
        _ = try? await buffer.flush(force: true, journal: journal, subscription: subscription.id)
    }

    /// Retries writing what was delivered until the journal takes it, delivering nothing
    /// more meanwhile: starting again from the saved cursor (as after other errors) sent
    /// everything since the last save again every second for as long as the journal
    /// refused writes (a failed fsync refuses them until a restart). Throws when stopping;
    /// the final flush then tries once more.
    func saveWhenPossible(_ buffer: inout SettlementBuffer, error: any Error) async throws {
        // Stopping (a cancelled task's write is refused too): the final flush tries again.
        guard !isStopping else { throw CancellationError() }
        logger.error("delivery progress could not be saved; delivering nothing more until it is", metadata: [
            "subscription": "\(subscription.id)", "error": "\(error)",
        ])
        while true {
            try await backOff(.seconds(1))
            do {
                try await buffer.flush(force: true, journal: journal, subscription: subscription.id)
                logger.info("delivery progress saved; delivering again", metadata: ["subscription": "\(subscription.id)"])
                return
            } catch {
                continue
            }
        }
    }

    /// The page after `cursor`, and its events this subscription takes. A short batch waits
    /// `sink.batchWait` to fill first: under load, one transaction and one fsync in the sink
    /// then carry many commits' events instead of a few.
    func readPage(after cursor: Int64) async throws -> (page: [JournalEntry], matching: [JournalEntry]) {
        var page = try await journal.entries(org: subscription.org, after: cursor, limit: pageSize)
        var matching = page.filter { subscription.matches($0.event) }
        if !matching.isEmpty, sink.batchWait > .zero, matching.count < sink.maxBatchSize, page.count < pageSize {
            try await Task.sleep(for: sink.batchWait)
            page = try await journal.entries(org: subscription.org, after: cursor, limit: pageSize)
            matching = page.filter { subscription.matches($0.event) }
        }
        return (page, matching)
    }

    /// Makes `run` return after the batch in hand, even while the journal keeps failing.
    func stop() {
        stopRequested.withLockedValue { $0 = true }
    }

    /// `DeliveryOrdering.journal`: batches in journal order, each retried in place until it
    /// is delivered or dead-lettered before anything after it goes.
    private func deliverPageInJournalOrder(cursor: inout Int64, buffer: inout SettlementBuffer) async throws -> Bool {
        let (page, matching) = try await readPage(after: cursor)
        guard let last = page.last else { return true }
        var settlement = DeliverySettlement(cursor: last.sequence)
        var start = 0
        while start < matching.count {
            let batch = Array(matching[start..<min(start + sink.maxBatchSize, matching.count)])
            do {
                // A stop ends the page here: the rest is read again after the restart.
                guard !isStopping else { throw CancellationError() }
                settlement.deadLetters += try await deliverWithRetries(batch)
            } catch {
                // Stopping: the batches before this one are done, and saved as such (else
                // they went again after the restart, with their dead letters counted twice).
                settlement.cursor = batch[0].sequence - 1
                buffer.add(settlement)
                throw error
            }
            start += batch.count
        }
        buffer.add(settlement)
        cursor = last.sequence
        return page.count < pageSize
    }

    /// Delivers a batch until every event is delivered or dead-lettered; returns the dead
    /// letters. Events the sink asks to retry are retried in order, with the sink's backoff,
    /// before anything after them.
    private func deliverWithRetries(_ batch: [JournalEntry]) async throws -> [DeadLetter] {
        var pending = batch
        var attempts = 0
        var dead: [DeadLetter] = []
        let firstTry = ContinuousClock.now
        while !pending.isEmpty {
            let started = ContinuousClock.now
            // Cancelled, the delivery is no attempt: the batch is left unsettled, for the
            // next start, rather than counted (or dead-lettered) as a failure.
            guard let report = await deliver(pending.map(\.event)), !Task.isCancelled else { throw CancellationError() }
            attempts += 1
            let delivered = report.outcomes.filter { $0 == .delivered }.count
            metrics.delivered(subscription: subscription.id, sink: subscription.sink, count: delivered, duration: ContinuousClock.now - started)
            var retry: [JournalEntry] = []
            var hint: Duration?
            var lastReason = ""
            for (entry, outcome) in zip(pending, Self.padded(report, count: pending.count)) {
                switch outcome {
                case .delivered:
                    continue
                case .reject(let reason):
                    dead.append(deadLetter(entry, attempts: attempts, reason: reason))
                case .retry(let reason, let after):
                    retry.append(entry)
                    hint = after.map { max($0, hint ?? .zero) } ?? hint
                    lastReason = reason
                }
            }
            pending = retry
            guard !pending.isEmpty else { break }
            let policy = sink.retryPolicy
            if !policy.allowsRetry(attempts: attempts, age: ContinuousClock.now - firstTry) {
                dead += pending.map { deadLetter($0, attempts: attempts, reason: lastReason) }
                break
            }
            metrics.retried(subscription: subscription.id, sink: subscription.sink, count: pending.count)
            let wait = hint ?? policy.backoff(afterAttempt: attempts)
            logger.warning("delivery failed; will retry", metadata: [
                "subscription": "\(subscription.id)", "events": "\(pending.count)", "attempt": "\(attempts)",
                "retry_in": "\(wait)", "reason": "\(lastReason)",
            ])
            try await backOff(wait)
        }
        return dead
    }

    /// `sink.deliver`, or nil once this task is cancelled (a shutdown's grace ran out): a
    /// local sink's write stuck on a hung disk ignores cancellation, and the shutdown must
    /// not wait for it. The delivery goes on, told it is cancelled; its events are delivered
    /// again at the next start.
    func deliver(_ events: [Event]) async -> DeliveryReport? {
        await abandoningOnCancel { [sink, inFlight] in
            let id = inFlight.withLockedValue { $0.start() }
            defer { inFlight.withLockedValue { $0.end(id) } }
            return await sink.deliver(events)
        }
    }

    /// Waits `duration` before a retry; throws once the dispatcher is told to stop, so that
    /// a sink that keeps failing holds up neither a reload nor a shutdown. The batch is left
    /// unsettled: delivered again after the restart, from the cursor.
    private func backOff(_ duration: Duration) async throws {
        var left = duration
        while left > .zero {
            guard !isStopping else { throw CancellationError() }
            let step = min(left, .milliseconds(100))
            try await Task.sleep(for: step)
            left -= step
        }
        guard !isStopping else { throw CancellationError() }
    }

    /// The dead letter for an event given up on, logged and counted; the journal gets it
    /// with the settlement it belongs to.
    func deadLetter(_ entry: JournalEntry, attempts: Int, reason: String) -> DeadLetter {
        logger.error("event dead-lettered", metadata: [
            "subscription": "\(subscription.id)", "event_id": "\(entry.event.id)", "reason": "\(reason)",
        ])
        metrics.deadLettered(subscription: subscription.id, sink: subscription.sink)
        return DeadLetter(sequence: entry.sequence, eventID: entry.event.id, attempts: attempts, reason: reason)
    }

    /// A sink that reports fewer outcomes than events has not confirmed the rest: retry them.
    static func padded(_ report: DeliveryReport, count: Int) -> [DeliveryOutcome] {
        let outcomes = Array(report.outcomes.prefix(count))
        return outcomes + Array(repeating: .retry(reason: "sink did not report on this event"), count: count - outcomes.count)
    }
}

/// The deliveries of one dispatcher in progress, by when they started.
struct DeliveriesInFlight {
    private var started: [Int: ContinuousClock.Instant] = [:]
    private var next = 0

    mutating func start() -> Int {
        next += 1
        started[next] = .now
        return next
    }

    mutating func end(_ id: Int) {
        started[id] = nil
    }

    var oldest: ContinuousClock.Instant? { started.values.min() }
}
