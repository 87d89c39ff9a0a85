import Foundation
import TickwireCore

/// Delivery for sinks with `DeliveryOrdering.perSubject` (remote destinations), and the
/// retry queue that every dispatcher works.
///
/// New events are read page by page after the cursor (`runPages`). Within a page, events are grouped by
/// key (the message they are about); groups go out concurrently, up to `concurrency`
/// requests at once, each group in journal order. An event the destination fails is
/// parked in the journal's retry queue, and every later event of its key joins the queue
/// behind it, so a later status never overtakes an earlier one and other messages are not
/// held up. The retry queue is worked by a second loop, head of each key first, with the
/// sink's backoff; retry state lives in the journal and so survives restarts.
///
/// What a page decided (attempts, parked events, dead letters, the new cursor) is written in
/// one transaction, at most every `SettlementBuffer.interval` while a backlog is worked
/// through. Keys parked but not yet written are remembered in memory, so later events of
/// those keys wait too.
extension SubscriptionDispatcher {
    /// `DeliveryOrdering.perSubject`: delivers one page; returns true when there was nothing
    /// left to read.
    func deliverPageBySubject(cursor: inout Int64, concurrency: Int, buffer: inout SettlementBuffer) async throws -> Bool {
        let (page, matching) = try await readPage(after: cursor)
        guard let last = page.last else { return true }

        let keys = Set(matching.map { QueuedDelivery.key(of: $0.event) })
        let waiting = try await journal.queuedKeys(subscription: subscription.id, among: keys).union(buffer.parkedKeys)
        var settlement = DeliverySettlement(cursor: last.sequence)
        var groups: [(key: String, entries: [JournalEntry])] = []
        var groupIndex: [String: Int] = [:]
        let now = Date()
        for entry in matching {
            let key = QueuedDelivery.key(of: entry.event)
            if waiting.contains(key) {
                settlement.queue.append(.behind(entry, key: key, at: now))
            } else if let index = groupIndex[key] {
                groups[index].entries.append(entry)
            } else {
                groupIndex[key] = groups.count
                groups.append((key, [entry]))
            }
        }
        let work = Self.workItems(groups.map(\.entries), batchSize: sink.maxBatchSize)
        // Complete even when the dispatcher stops part-way: what was not sent is parked.
        settlement.merge(await concurrently(work, limit: concurrency, deliverInOrder))
        buffer.add(settlement)
        cursor = last.sequence
        return page.count < pageSize
    }

    /// Packs groups into work items: a work item is a list of batches sent one after
    /// another. Small groups share batches (their keys differ, so order between them does
    /// not matter); a group larger than a batch is its own item of consecutive batches.
    static func workItems(_ groups: [[JournalEntry]], batchSize: Int) -> [[[JournalEntry]]] {
        var items: [[[JournalEntry]]] = []
        var shared: [JournalEntry] = []
        for group in groups {
            if group.count > batchSize {
                items.append(stride(from: 0, to: group.count, by: batchSize).map { Array(group[$0..<min($0 + batchSize, group.count)]) })
                continue
            }
            if shared.count + group.count > batchSize {
                items.append([shared])
                shared = []
            }
            shared += group
        }
        if !shared.isEmpty { items.append([shared]) }
        return items
    }

    /// Sends batches in order; once an event of a key fails, the rest of that key is queued
    /// behind it instead of sent. When the dispatcher stops part-way, what was not sent is
    /// queued too, in order, for the retry queue after the next start: dropping the whole
    /// page's settlement sent its delivered events again (up to 512 per stop or reload).
    private func deliverInOrder(_ batches: [[JournalEntry]]) async -> DeliverySettlement {
        var settlement = DeliverySettlement()
        var failedKeys = Set<String>()
        for (index, batch) in batches.enumerated() {
            var sending: [JournalEntry] = []
            for entry in batch {
                let key = QueuedDelivery.key(of: entry.event)
                if failedKeys.contains(key) {
                    settlement.queue.append(.behind(entry, key: key, at: Date()))
                } else {
                    sending.append(entry)
                }
            }
            guard !sending.isEmpty else { continue }
            guard let result = await attempt(sending.map(\.event)) else {
                for entry in sending + batches[(index + 1)...].joined() {
                    settlement.queue.append(.behind(entry, key: QueuedDelivery.key(of: entry.event), at: Date()))
                }
                return settlement
            }
            for (entry, outcome) in zip(sending, result.outcomes) {
                let key = QueuedDelivery.key(of: entry.event)
                let row = QueuedDelivery(entry: entry, key: key, attempts: 0, firstAttemptAt: nil, nextAttemptAt: result.at, lastError: nil)
                if settle(row, queued: false, outcome: outcome, result: result, into: &settlement) { failedKeys.insert(key) }
            }
        }
        return settlement
    }

    // MARK: Retry queue

    func runRetryQueue(concurrency: Int) async {
        // A round's settlement the journal refused is written before anything else is sent,
        // or the round's delivered events went again and failed ones skipped their backoff.
        var unsaved = SettlementBuffer()
        while !isStopping {
            do {
                try await unsaved.flush(force: true, journal: journal, subscription: subscription.id)
                // Sleep until the next event falls due, and at most a second, for events a
                // replay or the other loop queued meanwhile (one query while idle).
                let wait = try await journal.nextDue(subscription: subscription.id)?.timeIntervalSinceNow ?? 1
                guard wait <= 0 else {
                    try await Task.sleep(for: .milliseconds(Int(min(wait, 1) * 1000) + 1))
                    continue
                }
                let due = try await journal.dueDeliveries(
                    subscription: subscription.id, now: Date(), limit: concurrency * sink.maxBatchSize)
                // Heads have distinct keys: any grouping keeps order.
                let batches = stride(from: 0, to: due.count, by: sink.maxBatchSize).map {
                    [Array(due[$0..<min($0 + sink.maxBatchSize, due.count)])]
                }
                let settlement = await concurrently(batches, limit: concurrency) { item in
                    await self.deliverQueued(item[0])
                }
                // Saved also when the round was cut short by a stop (what was not sent stays
                // queued as it was).
                unsaved.add(settlement)
                try await unsaved.flush(force: true, journal: journal, subscription: subscription.id)
            } catch {
                if isStopping { return }
                logger.error("retry queue failed; retrying", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Rows queued under an earlier route (a reload changed the subscription's filters)
    /// that this one does not take leave the queue unsent. When the dispatcher stopped
    /// first, the others stay queued as they are.
    private func deliverQueued(_ queued: [QueuedDelivery]) async -> DeliverySettlement {
        var settlement = DeliverySettlement()
        var rows: [QueuedDelivery] = []
        for row in queued {
            if subscription.matches(row.entry.event) { rows.append(row) } else { settlement.removed.append(row.entry.sequence) }
        }
        guard !rows.isEmpty, let result = await attempt(rows.map(\.entry.event)) else { return settlement }
        for (row, outcome) in zip(rows, result.outcomes) {
            _ = settle(row, queued: true, outcome: outcome, result: result, into: &settlement)
        }
        return settlement
    }

    // MARK: Shared

    /// The result of one `deliver` call.
    private struct Attempt {
        var outcomes: [DeliveryOutcome]
        var request: RequestRecord?
        var at: Date
        var latency: Duration
    }

    /// Asks the circuit breaker, then the sink. Nil when the dispatcher is stopping or the
    /// delivery was cancelled (the events stay for its next start): a stop finishes the
    /// attempts in flight, not the rest of a page of up to 512 events, each up to the
    /// sink's timeout.
    private func attempt(_ events: [Event]) async -> Attempt? {
        guard !isStopping else { return nil }
        var permit: CircuitBreaker.Permit?
        if let breaker = sink.circuitBreaker {
            permit = await breaker.permit(keepWaiting: { !self.isStopping })
            guard permit != nil else { return nil }
        }
        let at = Date()
        let started = ContinuousClock.now
        let report = await deliver(events)
        let latency = ContinuousClock.now - started
        // A delivery cancelled (a shutdown's grace period ran out, a reload cancelled by a
        // shutdown) says nothing of the destination, and is no attempt: recorded as a
        // failure it counted against the retry policy (a dead letter at `max_attempts: 1`).
        // Its events are delivered again at the next start; a graceful stop lets deliveries
        // finish.
        guard let report, !Task.isCancelled else {
            if let permit { sink.circuitBreaker?.abandon(permit) }
            return nil
        }
        if let permit { sink.circuitBreaker?.record(permit, failed: report.failedEntirely) }
        let outcomes = Self.padded(report, count: events.count)
        let delivered = outcomes.filter { $0 == .delivered }.count
        metrics.delivered(subscription: subscription.id, sink: subscription.sink, count: delivered, duration: latency)
        return Attempt(outcomes: outcomes, request: report.request, at: at, latency: latency)
    }

    /// Records one event's outcome: delivered and refused events leave the queue (refused
    /// ones as dead letters), failed ones are rescheduled or, past the policy, dead-lettered.
    /// `queued`: the event is in the retry queue already. Returns true when the event stays
    /// queued (its key must wait).
    private func settle(
        _ row: QueuedDelivery, queued wasQueued: Bool, outcome: DeliveryOutcome, result: Attempt, into settlement: inout DeliverySettlement
    ) -> Bool {
        let attempt = row.attempts + 1
        let request = result.request
        var record = DeliveryAttempt(
            sequence: row.entry.sequence, eventID: row.entry.event.id, attempt: attempt, at: result.at, status: request?.status,
            latency: request?.latency ?? result.latency, error: request?.error, outcome: "delivered")
        switch outcome {
        case .delivered:
            settlement.attempts.append(record)
            if wasQueued { settlement.removed.append(row.entry.sequence) }
            return false
        case .reject(let reason):
            record.outcome = "rejected"
            record.error = record.error ?? reason
            settlement.attempts.append(record)
            if wasQueued { settlement.removed.append(row.entry.sequence) }
            settlement.deadLetters.append(deadLetter(row.entry, attempts: attempt, reason: reason))
            return false
        case .retry(let reason, let after):
            record.outcome = "failed"
            record.error = record.error ?? reason
            settlement.attempts.append(record)
            let first = row.firstAttemptAt ?? result.at
            let policy = sink.retryPolicy
            guard policy.allowsRetry(attempts: attempt, age: .seconds(result.at.timeIntervalSince(first))) else {
                if wasQueued { settlement.removed.append(row.entry.sequence) }
                settlement.deadLetters.append(deadLetter(row.entry, attempts: attempt, reason: reason))
                return false
            }
            // A Retry-After of 0 (or a date in the past) would spend every attempt at once.
            let wait = after.map { max($0, policy.initialBackoff) } ?? policy.backoff(afterAttempt: attempt)
            settlement.queue.append(
                QueuedDelivery(
                    entry: row.entry, key: row.key, attempts: attempt, firstAttemptAt: first,
                    nextAttemptAt: policy.nextAttempt(after: result.at, wait: wait, firstAttempt: first), lastError: reason))
            metrics.retried(subscription: subscription.id, sink: subscription.sink, count: 1)
            return true
        }
    }

    /// Runs `work` over `items` with at most `limit` at once and merges the settlements.
    /// Every item runs (a stopping dispatcher's items return at once, without sending).
    private func concurrently<Item: Sendable>(
        _ items: [Item], limit: Int, _ work: @escaping @Sendable (Item) async -> DeliverySettlement
    ) async -> DeliverySettlement {
        await withTaskGroup(of: DeliverySettlement.self) { group in
            var pending = items.makeIterator()
            for _ in 0..<max(1, limit) {
                guard let item = pending.next() else { break }
                group.addTask { await work(item) }
            }
            var merged = DeliverySettlement()
            for await result in group {
                merged.merge(result)
                if let item = pending.next() { group.addTask { await work(item) } }
            }
            return merged
        }
    }
}

extension QueuedDelivery {
    /// An event waiting behind an earlier event of its key: due as soon as it heads the queue.
    static func behind(_ entry: JournalEntry, key: String, at now: Date) -> QueuedDelivery {
        QueuedDelivery(entry: entry, key: key, attempts: 0, firstAttemptAt: nil, nextAttemptAt: now, lastError: nil)
    }
}

/// What pages decided but the journal does not have yet: written with the cursor at most
/// every `interval` (at once on shutdown). Each write is a transaction that competes with
/// ingest for the writer (and an fsync with durability full); a crash repeats at most
/// `interval` of deliveries (at-least-once).
struct SettlementBuffer {
    static let interval: Duration = .milliseconds(250)
    let interval: Duration
    private var pending = DeliverySettlement()
    private var flushedAt = ContinuousClock.now
    /// Keys with events parked in `pending`: later events of these keys must wait too.
    private(set) var parkedKeys = Set<String>()

    init(interval: Duration = Self.interval) {
        self.interval = interval
    }

    mutating func add(_ settlement: DeliverySettlement) {
        pending.merge(settlement)
        for row in settlement.queue { parkedKeys.insert(row.key) }
    }

    /// Writes what is pending if `force` or `interval` has passed since the last write;
    /// returns how long until what is still pending falls due, nil when nothing is. Kept
    /// when the journal refuses it, for the next flush.
    ///
    /// Written from a task of its own: GRDB refuses a write from a cancelled task (a stop
    /// whose grace ran out), and what was delivered would go again after the restart.
    @discardableResult
    mutating func flush(force: Bool, journal: any Journal, subscription: String) async throws -> Duration? {
        guard !pending.isEmpty else { return nil }
        let due = flushedAt + interval
        guard force || ContinuousClock.now >= due || pending.attempts.count > 10_000 else { return due - ContinuousClock.now }
        let settlement = pending
        try await Task { try await journal.settle(settlement, subscription: subscription) }.value
        pending = DeliverySettlement()
        parkedKeys = []
        flushedAt = ContinuousClock.now
        return nil
    }
}
