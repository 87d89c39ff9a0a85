import TickwireCore

/// The durable, ordered log of accepted events, and each subscription's place in it.
///
/// SQLite (`SQLiteJournal`) is the embedded default for one machine. Nothing outside an
/// implementation of this protocol may assume SQLite, so that a shared database (PostgreSQL
/// with `FOR UPDATE SKIP LOCKED`) can take its place for several gateway instances.
public protocol Journal: Sendable {
    /// Stores events durably (per the configured durability) before returning. Events whose
    /// id is already stored are skipped: a provider's retry stores nothing new.
    func append(_ events: [Event]) async throws

    /// Entries of `org` after `sequence`, oldest first.
    func entries(org: String, after sequence: Int64, limit: Int) async throws -> [JournalEntry]

    /// How many entries of `org` come after `sequence` (a subscription's backlog, roughly:
    /// entries its filters skip are counted too).
    func count(org: String, after sequence: Int64) async throws -> Int

    /// The highest sequence number written so far (0 when empty).
    func lastSequence() async throws -> Int64

    /// A subscription's cursor: the last sequence its sink has taken; nil if never set.
    func cursor(subscription: String) async throws -> Int64?
    func setCursor(_ sequence: Int64, subscription: String) async throws

    /// Forgets the cursors of subscriptions that are no longer configured, so that they do
    /// not hold back retention.
    func removeCursors(except subscriptions: Set<String>) async throws

    /// Keeps an event a sink gave up on, for the operator to inspect and replay.
    func deadLetter(_ entry: JournalEntry, subscription: String, attempts: Int, reason: String) async throws

    /// Keeps a body that could not be parsed, for the operator; the oldest go first once the
    /// quarantine holds `SQLiteJournal.quarantineLimit` bodies.
    func quarantine(org: String, channel: String, reason: String, contentType: String?, body: [UInt8]) async throws

    /// Deletes events that every subscription is past and that are older than `age`, a few
    /// at a time; returns how many went.
    func prune(olderThan age: Duration, batchSize: Int) async throws -> Int

    /// A stream that yields after each commit, so dispatchers wake without polling.
    func commits() -> AsyncStream<Void>

    /// Whether appends currently succeed (for `/readyz`).
    var isWritable: Bool { get }

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

/// The journal cannot take the events now (disk full, database locked): answer 503 so that
/// the provider retries.
public struct JournalUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "journal unavailable: \(reason)" }
}
