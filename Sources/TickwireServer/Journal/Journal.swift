import Foundation
import TickwireCore

/// The durable, ordered log of accepted events, and each subscription's place in it.
///
/// SQLite (`SQLiteJournal`) is the embedded default for one machine. Nothing outside an
/// implementation of this protocol may assume SQLite, so that a shared database (PostgreSQL
/// with `FOR UPDATE SKIP LOCKED`) can take its place for several gateway instances.
public protocol Journal: Sendable {
    /// Stores events durably (per the configured durability), then calls `completion`, on a
    /// thread of the journal's. Events whose id is already stored are skipped: a provider's
    /// retry stores nothing new. A callback, not `async`, so that the webhook handler on an
    /// event loop can answer from it without a task (bench/RESULTS.md, 2026-11-30). Succeeds
    /// with each event's sequence, nil for one that was already stored.
    func append(_ events: [Event], completion: @escaping @Sendable (Result<[Int64?], JournalUnavailable>) -> Void)

    /// Entries of `org` after `sequence`, oldest first.
    func entries(org: String, after sequence: Int64, limit: Int) async throws -> [JournalEntry]

    /// How many entries of `org` come after `sequence` (a subscription's backlog, roughly:
    /// entries its filters skip are counted too).
    func count(org: String, after sequence: Int64) async throws -> Int

    /// The highest sequence number written so far (0 when empty).
    func lastSequence() async throws -> Int64

    /// A subscription's cursor: the last sequence its sink has taken; nil if never set.
    func cursor(subscription: String) async throws -> Int64?
    /// Saves the cursor; the first one saved for a subscription is where it began (a replay
    /// leaves out what came before).
    func setCursor(_ sequence: Int64, subscription: String) async throws

    /// Marks the subscriptions with state (a cursor, queued events, dead letters) that are
    /// not in `subscriptions` as retired, from now, and those in it as configured again;
    /// returns what changed (`retired`: the ones retired by this call). A retired
    /// subscription keeps its state, and its cursor keeps holding back retention, until
    /// `forgetRetiredSubscriptions`: one that comes back before then (a plugins.d file
    /// missing at one reload) resumes where it was.
    func retireSubscriptions(except subscriptions: Set<String>) async throws -> RetirementChange

    /// Puts the marks back as they were before `change` (a reload that failed after it): the
    /// retirements it ended keep their original time, so retention's clock does not restart.
    func undo(_ change: RetirementChange) async throws

    /// Forgets subscriptions retired at least `age` ago: their cursors, retry queues and
    /// dead letters, so that they no longer hold back retention. Returns them.
    func forgetRetiredSubscriptions(olderThan age: Duration) async throws -> [String]

    /// Dead letters of a subscription, oldest first.
    func deadLetters(subscription: String, limit: Int) async throws -> [DeadLetter]

    // MARK: Delivery state: cursors' progress, retry queue, attempts, dead letters

    /// Applies what one round of deliveries decided, in one transaction: attempts recorded,
    /// events parked or rescheduled, settled ones removed from the queue, dead letters (kept
    /// for the operator to inspect and replay), and the subscription's new cursor.
    func settle(_ settlement: DeliverySettlement, subscription: String) async throws

    /// Which of `keys` have events queued for the subscription (such keys must wait).
    func queuedKeys(subscription: String, among keys: Set<String>) async throws -> Set<String>

    /// Queued events due by `now` that head their key's queue, most overdue first.
    func dueDeliveries(subscription: String, now: Date, limit: Int) async throws -> [QueuedDelivery]

    /// When the earliest queue head falls due; nil when the queue is empty.
    func nextDue(subscription: String) async throws -> Date?

    /// How many events wait in the subscription's retry queue.
    func queuedCount(subscription: String) async throws -> Int

    /// Queued events of a subscription, oldest first (for the operator): what the queue
    /// knows of each, without reading or parsing the events themselves.
    func queued(subscription: String, limit: Int) async throws -> [QueuedEvent]

    /// Puts events the subscription already took back in its retry queue (`tickwire
    /// replay`): those received in `range` whose channel and type `accept`, or with
    /// `deadOnly` only its dead letters. Events still queued or not yet taken (after
    /// `cursor`) are left alone, so nothing pending is sent twice.
    func requeue(
        subscription: String, org: String, cursor: Int64, range: ClosedRange<Date>, deadOnly: Bool,
        accept: @Sendable (_ channel: String, _ type: String) -> Bool
    ) async throws -> Int

    /// Keeps a body that could not be parsed, for the operator; the oldest go first once the
    /// quarantine holds `SQLiteJournal.quarantineLimit` bodies.
    func quarantine(org: String, channel: String, reason: String, contentType: String?, body: [UInt8]) async throws

    /// Quarantined bodies of `org` (every org's when nil), newest first.
    func quarantined(org: String?, limit: Int) async throws -> [QuarantinedBody]

    /// Deletes events that every subscription is past and that are older than `age`, a few
    /// at a time; returns how many went.
    func prune(olderThan age: Duration, batchSize: Int) async throws -> Int

    /// Deletes recorded delivery attempts older than `age`, a few at a time; returns how
    /// many went. (Attempts outnumber events: one per event, subscription and try.)
    func pruneAttempts(olderThan age: Duration, batchSize: Int) async throws -> Int

    /// Yields to `continuation` after each commit's entries are durable (until it is
    /// finished), so dispatchers wake without polling. The thread that publishes them (the
    /// WAL's sync thread with `durability: full`, the commit thread with `normal`) yields
    /// directly: a dispatcher busy with a batch finds one wakeup buffered, and no task runs
    /// per commit.
    func wakeOnCommit(_ continuation: AsyncStream<Void>.Continuation)

    /// Why the journal does not take writes now, or nil when it does (for `/readyz`): nil
    /// while appends succeed. After a failed append it tries a small write of its own, so
    /// that readiness returns once the disk does, without waiting for a webhook that a
    /// not-ready instance would not get.
    func readinessProblem() async -> String?

    func close() async throws
}

/// One stored event and its place in the journal.
public struct JournalEntry: Sendable, Equatable {
    public var sequence: Int64
    public var event: Event

    public init(sequence: Int64, event: Event) {
        self.sequence = sequence
        self.event = event
    }
}

/// An event in a subscription's retry queue.
public struct QueuedDelivery: Sendable, Equatable {
    public var entry: JournalEntry
    /// Events with the same key are delivered in journal order: the event's subject, or its
    /// id when it has none.
    public var key: String
    /// Attempts so far (0: queued behind an earlier event of its key, never tried).
    public var attempts: Int
    public var firstAttemptAt: Date?
    public var nextAttemptAt: Date
    public var lastError: String?

    public init(entry: JournalEntry, key: String, attempts: Int, firstAttemptAt: Date?, nextAttemptAt: Date, lastError: String?) {
        self.entry = entry
        self.key = key
        self.attempts = attempts
        self.firstAttemptAt = firstAttemptAt
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
    }

    public static func key(of event: Event) -> String { event.subject ?? event.id }
}

/// A retry queue's row as the operator sees it (`GET …/queue`).
public struct QueuedEvent: Sendable, Equatable {
    public var sequence: Int64
    public var eventID: String
    public var type: String
    public var key: String
    public var attempts: Int
    public var firstAttemptAt: Date?
    public var nextAttemptAt: Date
    public var lastError: String?
}

/// One delivery attempt of one event, as recorded in the journal.
public struct DeliveryAttempt: Sendable, Equatable {
    public var sequence: Int64
    public var eventID: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var at: Date
    public var status: Int?
    public var latency: Duration
    public var error: String?
    public var outcome: String

    public init(sequence: Int64, eventID: String, attempt: Int, at: Date, status: Int?, latency: Duration, error: String?, outcome: String) {
        self.sequence = sequence
        self.eventID = eventID
        self.attempt = attempt
        self.at = at
        self.status = status
        self.latency = latency
        self.error = error
        self.outcome = outcome
    }
}

public struct DeadLetter: Sendable, Equatable {
    public var sequence: Int64
    public var eventID: String
    public var attempts: Int
    public var reason: String
    public var failedAt: Date

    public init(sequence: Int64, eventID: String, attempts: Int, reason: String, failedAt: Date = Date()) {
        self.sequence = sequence
        self.eventID = eventID
        self.attempts = attempts
        self.reason = reason
        self.failedAt = failedAt
    }
}

/// A body that was authenticated but could not be parsed, kept for the operator.
public struct QuarantinedBody: Sendable, Equatable {
    public var org: String
    public var channel: String
    public var reason: String
    public var contentType: String?
    /// At most `SQLiteJournal.quarantineBodyLimit` bytes.
    public var body: [UInt8]
    public var receivedAt: Date
}

/// What one round of deliveries changes, written in one transaction.
public struct DeliverySettlement: Sendable {
    public var cursor: Int64?
    public var attempts: [DeliveryAttempt] = []
    /// Queue rows to insert or update (by sequence).
    public var queue: [QueuedDelivery] = []
    /// Sequences leaving the queue (delivered or dead-lettered).
    public var removed: [Int64] = []
    public var deadLetters: [DeadLetter] = []

    public init(cursor: Int64? = nil) {
        self.cursor = cursor
    }

    public var isEmpty: Bool {
        cursor == nil && attempts.isEmpty && queue.isEmpty && removed.isEmpty && deadLetters.isEmpty
    }

    /// Adds what `other` decided; its cursor, if any, is the later one.
    public mutating func merge(_ other: DeliverySettlement) {
        cursor = other.cursor ?? cursor
        attempts += other.attempts
        queue += other.queue
        removed += other.removed
        deadLetters += other.deadLetters
    }
}

/// The journal cannot take the events now (disk full, database locked): answer 503 so that
/// the provider retries.
public struct JournalUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "journal unavailable: \(reason)" }
}

extension Journal {
    /// A stream that yields after each commit.
    public func commits() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wakeOnCommit(continuation)
        return stream
    }

    /// Stores events durably before returning (see `append(_:completion:)`).
    @discardableResult
    public func append(_ events: [Event]) async throws -> [Int64?] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Int64?], Error>) in
            append(events) { continuation.resume(with: $0.mapError { $0 }) }
        }
    }
}

/// What `Journal.retireSubscriptions` changed, to be undone exactly.
public struct RetirementChange: Sendable {
    /// Retired by the call, from now.
    public var retired: [String] = []
    /// Configured again by the call, with when they had been retired.
    var unretired: [(subscription: String, at: Double)] = []
}
