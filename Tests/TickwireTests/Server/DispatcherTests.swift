import Foundation
import Logging
import Testing
import TickwireCore
@testable import TickwireServer

/// A sink that records what it got and fails on demand.
actor RecordingSink: Sink {
    private(set) var delivered: [Event] = []
    private(set) var calls = 0
    /// The most `deliver` calls in progress at once (the actor lets a slow one be entered again).
    private(set) var mostAtOnce = 0
    private var inProgress = 0
    var failNext = 0
    var rejectSubjects: Set<String> = []
    var delay: Duration = .zero
    nonisolated let retryPolicy: RetryPolicy
    nonisolated let maxBatchSize: Int
    nonisolated let ordering: DeliveryOrdering

    init(
        retryPolicy: RetryPolicy = .init(maxAttempts: nil, maxAge: nil, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(20)),
        maxBatchSize: Int = 256, ordering: DeliveryOrdering = .journal
    ) {
        self.retryPolicy = retryPolicy
        self.maxBatchSize = maxBatchSize
        self.ordering = ordering
    }

    func failing(_ count: Int) { failNext = count }
    func rejecting(_ subjects: Set<String>) { rejectSubjects = subjects }
    func slow(_ delay: Duration) { self.delay = delay }

    func deliver(_ batch: [Event]) async -> DeliveryReport {
        calls += 1
        inProgress += 1
        mostAtOnce = max(mostAtOnce, inProgress)
        defer { inProgress -= 1 }
        if delay > .zero { try? await Task.sleep(for: delay) }
        // What a network sink reports when its request is cancelled.
        if Task.isCancelled { return .all(.retry(reason: "request failed: CancellationError()"), count: batch.count) }
        if failNext > 0 {
            failNext -= 1
            return .all(.retry(reason: "down"), count: batch.count)
        }
        return DeliveryReport(outcomes: batch.map { event in
            if rejectSubjects.contains(event.subject ?? "") { return .reject(reason: "410 gone") }
            delivered.append(event)
            return .delivered
        })
    }
}

@Suite("Subscription dispatchers")
struct DispatcherTests {
    let directory: TemporaryDirectory
    let logger = Logger.quiet

    init() throws {
        directory = try TemporaryDirectory()
    }

    func journal() throws -> SQLiteJournal {
        try SQLiteJournal(path: directory.path + "/journal.sqlite", durability: .normal)
    }

    /// Runs dispatchers until `done` holds, then stops them as a shutdown would (a stopped
    /// dispatcher is done: a restart makes new ones).
    func run(_ dispatchers: [SubscriptionDispatcher], journal: SQLiteJournal, until done: @escaping () async -> Bool) async throws {
        let finished = try await running(dispatchers, journal: journal) { _ in await eventually { await done() } }
        #expect(finished)
    }

    /// Runs the dispatchers' service while `body` runs, then cancels it (a shutdown's end).
    func running<T>(
        _ dispatchers: [SubscriptionDispatcher], journal: SQLiteJournal, _ body: (DispatchService) async throws -> T
    ) async throws -> T {
        let service = DispatchService(dispatchers: dispatchers, journal: journal, logger: logger)
        let task = Task { try await service.run() }
        defer { task.cancel() }
        let result = try await body(service)
        task.cancel()
        _ = await task.result
        return result
    }

    /// The dispatcher of acme/s into `sink`, from the journal's beginning, its cursor set.
    func acmeDispatcher(into sink: RecordingSink, journal: SQLiteJournal) async throws -> SubscriptionDispatcher {
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "s", org: "acme", sink: "s", from: .beginning), sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        return dispatcher
    }

    @Test func deliversMatchingEventsInJournalOrderAndAdvancesTheCursor() async throws {
        let journal = try journal()
        let sink = RecordingSink()
        let subscription = Subscription(name: "reads", org: "acme", sink: "s", events: [try EventPattern("message.read"), try EventPattern("message.sent")], from: .beginning)
        let dispatcher = SubscriptionDispatcher(subscription: subscription, sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        try await journal.append([
            TestEvents.status(.sent, message: "a"), TestEvents.status(.delivered, message: "a"),
            TestEvents.status(.read, message: "a"), TestEvents.status(.read, message: "b", org: "other"),
        ])
        // The cursor reaches the org's last entry (3: entry 4 belongs to another org).
        try await run([dispatcher], journal: journal) { (try? await journal.cursor(subscription: "acme/reads")) == 3 }
        #expect(await sink.delivered.map(\.type) == [.messageSent, .messageRead])
        try await journal.close()
    }

    /// Settlements (the cursor) are written at most every `SettlementBuffer.interval`, also
    /// while caught up, so that a dispatcher that keeps up does not take the journal's writer
    /// on every commit; one that goes idle still saves its cursor, with no commit to wake it.
    @Test func caughtUpCursorsAreSavedOnTheIntervalAndWhenIdle() async throws {
        let journal = try journal()
        let sink = RecordingSink()
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "s", org: "acme", sink: "s", from: .beginning), sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        let task = Task { try await service.run() }
        // 40 commits over about 400 ms (longer on a slow machine), each delivered as it
        // comes: the cursor is written once per interval, not 40 times.
        var saves: Set<Int64> = []
        let started = ContinuousClock.now
        for n in 0..<40 {
            try await journal.append([TestEvents.status(.sent, message: "m\(n)")])
            try await Task.sleep(for: .milliseconds(10))
            if let cursor = try await journal.cursor(subscription: "acme/s"), cursor > 0 { saves.insert(cursor) }
        }
        let intervals = Int((ContinuousClock.now - started) / SettlementBuffer.interval)
        let delivered = await eventually { await sink.delivered.count == 40 }
        #expect(delivered)
        // Idle now: no commit comes, yet the last position is saved within the interval.
        let saved = await eventually(timeout: .seconds(2)) { (try? await journal.cursor(subscription: "acme/s")) == 40 }
        #expect(saved, "the idle dispatcher saved its cursor")
        #expect(saves.count <= intervals + 2, "cursor positions seen in \(intervals) intervals while keeping up: \(saves.sorted())")
        task.cancel()
        _ = await task.result
        try await journal.close()
    }

    @Test func newSubscriptionStartsAtTheEndUnlessFromBeginning() async throws {
        let journal = try journal()
        try await journal.append([TestEvents.status(.sent, message: "old")])
        let fromEnd = SubscriptionDispatcher(subscription: Subscription(name: "e", org: "acme", sink: "s"), sink: RecordingSink(), journal: journal, logger: logger)
        let fromStart = SubscriptionDispatcher(subscription: Subscription(name: "b", org: "acme", sink: "s", from: .beginning), sink: RecordingSink(), journal: journal, logger: logger)
        try await fromEnd.prepareCursor()
        try await fromStart.prepareCursor()
        #expect(try await journal.cursor(subscription: "acme/e") == 1)
        #expect(try await journal.cursor(subscription: "acme/b") == 0)
        try await journal.close()
    }

    @Test func failingSinkIsRetriedInOrderAndOthersAreNotHeldUp() async throws {
        let journal = try journal()
        let flaky = RecordingSink()
        await flaky.failing(3)
        // Never done while the test runs: the others must finish without it.
        let slow = RecordingSink()
        await slow.slow(.seconds(3600))
        let healthy = RecordingSink()
        let dispatchers = [("flaky", flaky), ("slow", slow), ("healthy", healthy)].map { name, sink in
            SubscriptionDispatcher(subscription: Subscription(name: name, org: "acme", sink: name, from: .beginning), sink: sink, journal: journal, logger: logger)
        }
        for dispatcher in dispatchers { try await dispatcher.prepareCursor() }
        let events = (0..<20).map { TestEvents.status(.sent, message: "m\($0)") }
        try await run(dispatchers, journal: journal) {
            if await healthy.delivered.isEmpty { _ = try? await journal.append(events) }
            let healthyCount = await healthy.delivered.count
            let flakyCount = await flaky.delivered.count
            let slowCalls = await slow.calls
            return healthyCount == 20 && flakyCount == 20 && slowCalls >= 1
        }
        #expect(await flaky.delivered.map(\.id) == events.map(\.id), "retried events arrive once each, in order")
        #expect(await flaky.calls >= 4)
        #expect(await slow.calls >= 1, "the slow sink was called")
        #expect(await slow.delivered.isEmpty, "and was still busy with its first batch")
        try await journal.close()
    }

    /// A service with one dispatcher for subscription `name` on `sink` (from the beginning,
    /// its cursor set) and one event journaled for it; nothing is started yet.
    func serviceWithOneEvent(for sink: RecordingSink, name: String, journal: SQLiteJournal) async throws -> (DispatchService, SubscriptionDispatcher) {
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: name, org: "acme", sink: name, from: .beginning), sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        try await journal.append([TestEvents.status(.sent, message: name)])
        return (DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger), dispatcher)
    }

    /// A local sink that keeps failing is retried in place; told to stop (a reload removed
    /// it, or a shutdown), its dispatcher leaves the batch for the next start instead of
    /// retrying forever, and its cursor stays before it.
    @Test(.timeLimit(.minutes(1)))
    func aStopEndsTheRetriesOfASinkThatKeepsFailing() async throws {
        let journal = try journal()
        // Backoffs of up to five minutes (full jitter): a stop that waited one out would
        // almost never come back within the seconds allowed below.
        let broken = RecordingSink(retryPolicy: .init(maxAttempts: nil, maxAge: nil, initialBackoff: .seconds(300), maxBackoff: .seconds(300)))
        await broken.failing(.max)
        let (service, dispatcher) = try await serviceWithOneEvent(for: broken, name: "broken", journal: journal)
        await service.replace(with: [dispatcher])
        #expect(await eventually { await broken.calls >= 1 })
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await service.replace(with: [])
        #expect(ContinuousClock.now - started < .seconds(5), "the stop does not wait out the backoff")
        #expect(try await journal.cursor(subscription: "acme/broken") == 0, "the undelivered event is delivered after a restart")
        try await journal.close()
    }

    /// A sink ordered per message with no circuit breaker (an HTTP forwarder with
    /// `circuit_breaker: {failures: 0}`): a stop finishes the deliveries in flight, not the
    /// rest of the page, each of which could take the sink's whole timeout.
    @Test(.timeLimit(.minutes(1)))
    func aStopEndsAPageOrderedPerMessageWithoutABreaker() async throws {
        let journal = try journal()
        // Long enough that the stop is asked during the first delivery on a loaded machine.
        let slow = RecordingSink(maxBatchSize: 1, ordering: .perSubject(concurrency: 1))
        await slow.slow(.seconds(2))
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "slow", org: "acme", sink: "slow", from: .beginning), sink: slow, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        try await journal.append((0..<9).map { TestEvents.status(.sent, message: "p\($0)") })
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        await service.replace(with: [dispatcher])
        #expect(await eventually { await slow.calls >= 1 })
        await service.replace(with: [])
        let calls = await slow.calls
        #expect(calls <= 2, "\(calls) of 9 deliveries made after the stop was asked")
        try await journal.close()
    }

    /// Cancelled when the shutdown's grace runs out, a dispatcher still saves how far it
    /// got: GRDB refuses writes from a cancelled task, and the whole unsaved window was
    /// delivered again after the restart.
    @Test(.timeLimit(.minutes(1)))
    func aCancelledDispatcherSavesItsProgress() async throws {
        let journal = try journal()
        let sink = RecordingSink()
        // Settlements written no sooner than an hour in: only the last flush can save the cursor.
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "saved", org: "acme", sink: "saved", from: .beginning), sink: sink, journal: journal, logger: logger,
            settlementInterval: .seconds(3600))
        try await dispatcher.prepareCursor()
        let appended = try await journal.append((0..<3).map { TestEvents.status(.sent, message: "c\($0)") })
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        let task = Task { try await service.run() }
        #expect(await eventually { await sink.delivered.count == 3 })
        #expect(try await journal.cursor(subscription: "acme/saved") == 0, "delivered, not saved yet")
        // Then the grace runs out.
        task.cancel()
        _ = await task.result
        #expect(try await journal.cursor(subscription: "acme/saved") == appended.last!)
        try await journal.close()
    }

    /// A delivery cancelled with the dispatcher (the grace ran out, or a reload was
    /// cancelled by a shutdown) is no attempt: nothing is dead-lettered (with
    /// `max_attempts: 1` it was), and the event is delivered again after the restart: from
    /// the cursor in journal order, from the retry queue (attempts 0) per message.
    @Test(.timeLimit(.minutes(1)), arguments: [DeliveryOrdering.journal, .perSubject(concurrency: 2)])
    func aCancelledDeliveryIsNotCountedAsAnAttempt(ordering: DeliveryOrdering) async throws {
        let journal = try journal()
        let hanging = RecordingSink(
            retryPolicy: .init(maxAttempts: 1, maxAge: nil, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(20)), ordering: ordering)
        await hanging.slow(.seconds(3600))
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "hang", org: "acme", sink: "hang", from: .beginning), sink: hanging, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        try await journal.append([TestEvents.status(.sent, message: "h0")])
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        let task = Task { try await service.run() }
        #expect(await eventually { await hanging.calls >= 1 })
        task.cancel()
        _ = await task.result
        #expect(try await journal.deadLetters(subscription: "acme/hang").isEmpty)
        if ordering == .journal {
            #expect(try await journal.queuedCount(subscription: "acme/hang") == 0)
            #expect(try await journal.cursor(subscription: "acme/hang") == 0, "delivered again from the cursor")
        } else {
            #expect(try await journal.queued(subscription: "acme/hang", limit: 10).map(\.attempts) == [0], "waits, no attempt counted")
            #expect(try await journal.cursor(subscription: "acme/hang") == 1)
        }
        try await journal.close()
    }

    /// A reload that changes a subscription's route (its filters) replaces its dispatcher:
    /// the old one finishes its batch before the new one starts, so one cursor never has two
    /// dispatchers delivering at once.
    @Test func aChangedRouteStopsTheOldDispatcherBeforeTheNewOneStarts() async throws {
        let journal = try journal()
        let sink = RecordingSink()
        await sink.slow(.milliseconds(300))
        let before = SubscriptionDispatcher(
            subscription: Subscription(name: "s", org: "acme", sink: "s", from: .beginning), sink: sink, journal: journal, logger: logger)
        let after = SubscriptionDispatcher(
            subscription: Subscription(name: "s", org: "acme", sink: "s", events: [try EventPattern("message.*")], from: .beginning),
            sink: sink, journal: journal, logger: logger)
        #expect(before.routeKey != after.routeKey)
        try await before.prepareCursor()
        try await journal.append((0..<3).map { TestEvents.status(.sent, message: "r\($0)") })
        let service = DispatchService(dispatchers: [before], journal: journal, logger: logger)
        await service.replace(with: [before])
        #expect(await eventually { await sink.calls >= 1 }, "the old dispatcher is delivering")
        await service.replace(with: [after])
        #expect(await eventually { await Set(sink.delivered.map(\.id)).count == 3 })
        #expect(await sink.mostAtOnce == 1, "never two deliveries on one cursor at once")
        await service.replace(with: [])
        try await journal.close()
    }

    /// A reload that comes before the service runs (SIGHUP right after start) is not undone
    /// when it does: the service starts what the reload asked for.
    @Test func aReloadBeforeTheServiceRunsIsKept() async throws {
        let journal = try journal()
        func dispatcher(_ name: String) -> SubscriptionDispatcher {
            SubscriptionDispatcher(subscription: Subscription(name: name, org: "acme", sink: name), sink: RecordingSink(), journal: journal, logger: logger)
        }
        let (old, new) = (dispatcher("old"), dispatcher("new"))
        for each in [old, new] { try await each.prepareCursor() }
        let service = DispatchService(dispatchers: [old], journal: journal, logger: logger)
        await service.replace(with: [new])
        let task = Task { try await service.run() }
        #expect(await eventually { service.hasStarted })
        #expect(service.dispatchers.map(\.routeKey) == [new.routeKey])
        task.cancel()
        _ = await task.result
        try await journal.close()
    }

    /// When the grace period runs out, the service group cancels what is still delivering.
    @Test(.timeLimit(.minutes(1)))
    func cancellationReachesDispatchersBeingStopped() async throws {
        let journal = try journal()
        let hanging = RecordingSink()
        await hanging.slow(.seconds(3600))
        let (service, _) = try await serviceWithOneEvent(for: hanging, name: "hanging", journal: journal)
        let task = Task { try await service.run() }
        #expect(await eventually { await hanging.calls >= 1 })
        // Stopping waits for the batch in hand ...
        let stopping = Task { await service.replace(with: []) }
        try await Task.sleep(for: .milliseconds(200))
        // ... until cancellation, which also reaches the dispatcher being stopped.
        let cancelled = ContinuousClock.now
        task.cancel()
        _ = await task.result
        await stopping.value
        #expect(ContinuousClock.now - cancelled < .seconds(5), "not the hour the sink would take")
        try await journal.close()
    }

    @Test func rejectedAndExhaustedEventsGoToTheDeadLetter() async throws {
        let journal = try journal()
        let sink = RecordingSink(retryPolicy: RetryPolicy(maxAttempts: 2, maxAge: nil, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2)))
        await sink.rejecting(["bad"])
        let dispatcher = SubscriptionDispatcher(subscription: Subscription(name: "s", org: "acme", sink: "s", from: .beginning), sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        try await journal.append([TestEvents.status(.sent, message: "good"), TestEvents.status(.sent, message: "bad"), TestEvents.status(.sent, message: "after")])
        // Stop only once the batch is fully settled (cursor moved), as a graceful shutdown would.
        try await run([dispatcher], journal: journal) { (try? await journal.cursor(subscription: "acme/s")) == 3 }
        #expect(await sink.delivered.count == 2)
        let dead = try await journal.deadLetters(subscription: "acme/s")
        #expect(dead.map(\.sequence) == [2])
        #expect(dead.first?.reason == "410 gone")

        // A sink down for longer than its policy allows: events are dead-lettered, not lost.
        await sink.failing(10)
        try await journal.append([TestEvents.status(.read, message: "late")])
        let restarted = SubscriptionDispatcher(subscription: dispatcher.subscription, sink: sink, journal: journal, logger: logger)
        try await run([restarted], journal: journal) { (try? await journal.deadLetters(subscription: "acme/s").count) == 2 }
        #expect(try await journal.deadLetters(subscription: "acme/s").last?.attempts == 2)
        try await journal.close()
    }

    /// While the journal refuses a dispatcher's progress (a failed fsync refuses every write
    /// until a restart), what it delivered is not delivered again, nor anything more; once
    /// the progress is written, delivery goes on. (It used to start again from the saved
    /// cursor every second.)
    @Test(.timeLimit(.minutes(1)), arguments: [DeliveryOrdering.journal, .perSubject(concurrency: 2)])
    func progressTheJournalRefusesIsNotDeliveredAgain(ordering: DeliveryOrdering) async throws {
        let journal = try journal()
        let sink = RecordingSink(ordering: ordering)
        let dispatcher = try await acmeDispatcher(into: sink, journal: journal)
        try await Self.refuseWrites(to: "cursors", in: journal)
        try await journal.append((0..<3).map { TestEvents.status(.sent, message: "a\($0)") })
        try await running([dispatcher], journal: journal) { _ in
            #expect(await eventually { await sink.delivered.count == 3 })
            try await Task.sleep(for: .milliseconds(1500))
            try await journal.append((0..<2).map { TestEvents.status(.sent, message: "b\($0)") })
            try await Task.sleep(for: .milliseconds(1500))
            #expect(await sink.delivered.map(\.subject) == ["a0", "a1", "a2"], "nothing twice, nothing more")
            try await Self.allowWrites(to: "cursors", in: journal)
            #expect(await eventually { (try? await journal.cursor(subscription: "acme/s")) == 5 })
            #expect(await sink.delivered.map(\.subject) == ["a0", "a1", "a2", "b0", "b1"])
        }
        try await journal.close()
    }

    /// The same for the retry queue: a round whose settlement the journal refuses is written
    /// before the queue is read again, so the event it delivered is not sent again.
    @Test(.timeLimit(.minutes(1)))
    func aRetryRoundTheJournalRefusesIsNotDeliveredAgain() async throws {
        let journal = try journal()
        let sink = RecordingSink(ordering: .perSubject(concurrency: 2))
        await sink.failing(1)
        let dispatcher = try await acmeDispatcher(into: sink, journal: journal)
        // Parking the failed event inserts its queue row; settling its retry deletes it.
        try await journal.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_delete BEFORE DELETE ON delivery_queue BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        }
        try await journal.append([TestEvents.status(.sent, message: "q")])
        try await running([dispatcher], journal: journal) { _ in
            #expect(await eventually { await sink.delivered.count == 1 })
            try await Task.sleep(for: .milliseconds(2500))
            #expect(await sink.delivered.count == 1, "delivered once, though the journal still lists it as queued")
            try await journal.pool.write { db in try db.execute(sql: "DROP TRIGGER refuse_delete") }
            #expect(await eventually { (try? await journal.queued(subscription: "acme/s", limit: 10).isEmpty) == true })
            #expect(await sink.delivered.count == 1)
        }
        try await journal.close()
    }

    /// A dispatcher stopped part-way through a page (a reload that changed its route, a
    /// shutdown) saves what it finished: per message, the rest of the page waits in the
    /// retry queue; in journal order, the cursor stops before the unfinished batch. After
    /// the restart nothing goes twice. (The whole page's results were dropped.)
    @Test(.timeLimit(.minutes(1)), arguments: [DeliveryOrdering.journal, .perSubject(concurrency: 1)])
    func aDispatcherStoppedMidPageKeepsWhatItFinished(ordering: DeliveryOrdering) async throws {
        let journal = try journal()
        let first = RecordingSink(maxBatchSize: 2, ordering: ordering)
        // Slow enough that the stop comes before the page is through, even on a loaded machine.
        await first.slow(.milliseconds(400))
        let dispatcher = try await acmeDispatcher(into: first, journal: journal)
        try await journal.append((0..<12).map { TestEvents.status(.sent, message: "m\($0)") })
        try await running([dispatcher], journal: journal) { service in
            #expect(await eventually { await first.delivered.count >= 2 })
            await service.replace(with: [])
        }
        let before = await first.delivered.compactMap(\.subject)
        #expect(before.count < 12, "stopped part-way")

        let second = RecordingSink(maxBatchSize: 2, ordering: ordering)
        let restarted = try await acmeDispatcher(into: second, journal: journal)
        try await run([restarted], journal: journal) { await second.delivered.count + before.count >= 12 }
        let after = await second.delivered.compactMap(\.subject)
        #expect(Set(before).isDisjoint(with: after), "delivered again: \(Set(before).intersection(after).sorted())")
        #expect(Set(before + after) == Set((0..<12).map { "m\($0)" }))
        #expect(try await journal.deadLetters(subscription: "acme/s").isEmpty)
        try await journal.close()
    }

    /// Events parked under an earlier route (a stop mid-page, a failure) that a reload's
    /// new filters no longer take leave the retry queue unsent.
    @Test(.timeLimit(.minutes(1)))
    func queuedEventsTheRouteNoLongerTakesLeaveUnsent() async throws {
        let journal = try journal()
        try await journal.append([TestEvents.status(.sent, message: "a"), TestEvents.status(.read, message: "b")])
        var parked = DeliverySettlement(cursor: 2)
        parked.queue = try await journal.entries(org: "acme", after: 0, limit: 10).map {
            .behind($0, key: QueuedDelivery.key(of: $0.event), at: Date())
        }
        try await journal.settle(parked, subscription: "acme/s")
        let sink = RecordingSink(ordering: .perSubject(concurrency: 2))
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "s", org: "acme", sink: "s", events: [try EventPattern("message.read")]),
            sink: sink, journal: journal, logger: logger)
        try await run([dispatcher], journal: journal) { (try? await journal.queuedCount(subscription: "acme/s")) == 0 }
        #expect(await sink.delivered.map(\.subject) == ["b"])
        try await journal.close()
    }

    /// Makes every write to `table` fail, as a journal refusing writes does.
    static func refuseWrites(to table: String, in journal: SQLiteJournal) async throws {
        try await journal.pool.write { db in
            for operation in ["INSERT", "UPDATE"] {
                try db.execute(sql: "CREATE TRIGGER refuse_\(operation) BEFORE \(operation) ON \(table) BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
            }
        }
    }

    static func allowWrites(to table: String, in journal: SQLiteJournal) async throws {
        try await journal.pool.write { db in
            for operation in ["INSERT", "UPDATE"] { try db.execute(sql: "DROP TRIGGER refuse_\(operation)") }
        }
    }

    @Test func restartResumesFromTheCursor() async throws {
        let journal = try journal()
        let first = RecordingSink()
        let subscription = Subscription(name: "s", org: "acme", sink: "s", from: .beginning)
        let dispatcher = SubscriptionDispatcher(subscription: subscription, sink: first, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        try await journal.append((0..<3).map { TestEvents.status(.sent, message: "a\($0)") })
        try await run([dispatcher], journal: journal) { (try? await journal.cursor(subscription: "acme/s")) == 3 }
        // While "down", more events arrive; a new dispatcher (a restart) delivers only those.
        try await journal.append((0..<2).map { TestEvents.status(.sent, message: "b\($0)") })
        let second = RecordingSink()
        let restarted = SubscriptionDispatcher(subscription: subscription, sink: second, journal: journal, logger: logger)
        try await restarted.prepareCursor()
        try await run([restarted], journal: journal) { await second.delivered.count == 2 }
        #expect(await second.delivered.map(\.subject) == ["b0", "b1"])
        try await journal.close()
    }
}
