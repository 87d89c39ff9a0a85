import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import Synchronization
import TickwireCore
import TickwireSinks

/// The embedded journal: one SQLite database in WAL mode, appends group-committed.
///
/// Rows are keyed by a growing sequence (inserts stay at the B-tree's end). Which event ids
/// are journaled, what makes a provider's retry a no-op, is kept by `EventIDIndex` in a
/// database of its own.
public final class SQLiteJournal: Journal {
    let pool: GatedPool
    private let eventIDs: EventIDIndex
    private let writer: GroupCommit<Event, Int64?>
    private let commits: CommitSignal
    private let writable = Atomic<Bool>(true)
    private let probe: SharedRun<Bool>
    public let durability: Durability
    /// Commit counters, for metrics and for tests of group commit.
    public let stats: JournalStats
    /// What the dispatchers read while they keep up: no SQLite read, no parsing.
    private let recent: RecentEntries
    /// Entries read back from SQLite (catching up), parsed once for all subscriptions.
    private let decoded: DecodedEvents
    /// Per org, the sequence through which every entry left is held (queued or a dead
    /// letter): retention passes start after it (`deleteTaken`).
    let heldThrough = Mutex(HeldEntries())

    /// Opens (and creates or migrates) the journal at `path`. `onCommit` is told the size
    /// and duration of every append transaction, `onSync` the duration of every fsync that
    /// appends wait for (`durability: full`), both for metrics. The newest `recentEntries`
    /// entries stay in memory for the dispatchers.
    public convenience init(
        path: String, durability: Durability, recentEntries: Int = 8192, onCommit: (@Sendable (Int, Duration) -> Void)? = nil,
        onSync: (@Sendable (Duration) -> Void)? = nil
    ) throws {
        try self.init(
            path: path, durability: durability, recentEntries: recentEntries, eventIDLimits: EventIDIndex.Limits(), onCommit: onCommit,
            onSync: onSync)
    }

    /// With the event id index's limits (tests).
    convenience init(
        path: String, durability: Durability, recentEntries: Int = 8192, eventIDLimits: EventIDIndex.Limits,
        onCommit: (@Sendable (Int, Duration) -> Void)? = nil, onSync: (@Sendable (Duration) -> Void)? = nil
    ) throws {
        // All the work that can fail happens before any stored property is set: a throwing
        // designated init with an Atomic property crashed the 6.3 optimizer.
        // `full` is SQLite's NORMAL plus an fsync of the WAL on a thread of its own (WALSync),
        // which the answers wait for and the next commit does not.
        let database = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
        let last = try database.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM journal") ?? 0 }
        let eventIDs = try EventIDIndex(journalPath: path, journal: database.pool, limits: eventIDLimits)
        let sync = durability == .full ? WALSync(walPath: path + "-wal", onSync: onSync) : nil
        self.init(
            database: database, sync: sync, eventIDs: eventIDs, lastSequence: last, recentEntries: recentEntries, durability: durability,
            onCommit: onCommit)
    }

    private init(
        database: SQLiteDatabase, sync: WALSync?, eventIDs: EventIDIndex, lastSequence: Int64, recentEntries: Int, durability: Durability,
        onCommit: (@Sendable (Int, Duration) -> Void)?
    ) {
        let stats = JournalStats(sync: sync)
        let spaceProbePath = database.pool.path + "-probe"
        let pool = GatedPool(database, sync: sync)
        probe = SharedRun { await Self.probeWrites(pool, spaceProbePath: spaceProbePath) }
        self.pool = pool
        self.eventIDs = eventIDs
        self.durability = durability
        self.stats = stats
        let recent = RecentEntries(baseline: lastSequence, capacity: recentEntries)
        let commits = CommitSignal()
        self.recent = recent
        self.commits = commits
        self.decoded = DecodedEvents(capacity: 2048)
        self.writer = GroupCommit(name: "tw-commit", sync: sync) { events in
            let start = ContinuousClock.now
            let sequences = try eventIDs.record(events.map(\.id)) { fresh in
                try pool.writeBlocking { db in try Self.insert(events, fresh: fresh, db: db) }
            }
            onCommit?(events.count, ContinuousClock.now - start)
            stats.commits.add(1, ordering: .relaxed)
            stats.events.add(events.count, ordering: .relaxed)
            return sequences
        } durable: { events, sequences in
            // Dispatchers read these entries next, parsed and serialized, and only once they
            // are durable (see `entries`). Handed over and signalled once per commit: per
            // webhook, the tail's lock and a wake-up of every subscription ran up to a few
            // dozen times per commit on the thread every webhook waits for.
            recent.append(zip(sequences, events).compactMap { sequence, event in
                sequence.map { JournalEntry(sequence: $0, event: event) }
            })
            commits.signal()
        }
    }

    /// `PRAGMA synchronous` as the writer connection has it: 1 = NORMAL with either
    /// durability (`full` adds `WALSync`).
    public func synchronousMode() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE journal (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL UNIQUE,
                    org TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    type TEXT NOT NULL,
                    subject TEXT,
                    received_at REAL NOT NULL,
                    event BLOB NOT NULL
                );
                CREATE INDEX journal_org_seq ON journal(org, seq);
                CREATE TABLE cursors (
                    subscription TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE dead_letters (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    subscription TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    event_id TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    failed_at REAL NOT NULL,
                    UNIQUE(subscription, seq)
                );
                """)
        }
        migrator.registerMigration("v2-quarantine") { db in
            try db.execute(sql: """
                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    org TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    content_type TEXT,
                    body BLOB NOT NULL,
                    received_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3-retry-queue") { db in
            try db.execute(sql: """
                ALTER TABLE journal ADD COLUMN raw_type TEXT;
                ALTER TABLE journal ADD COLUMN raw_body BLOB;
                CREATE TABLE delivery_queue (
                    subscription TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    first_attempt_at REAL,
                    next_attempt_at REAL NOT NULL,
                    last_error TEXT,
                    PRIMARY KEY (subscription, seq)
                ) WITHOUT ROWID;
                CREATE INDEX delivery_queue_key ON delivery_queue(subscription, key, seq);
                CREATE TABLE delivery_attempts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    subscription TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    event_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    attempted_at REAL NOT NULL,
                    status INTEGER,
                    latency_ms REAL NOT NULL,
                    error TEXT,
                    outcome TEXT NOT NULL
                );
                CREATE INDEX delivery_attempts_event ON delivery_attempts(subscription, seq);
                CREATE INDEX dead_letters_seq ON dead_letters(seq);
                """)
        }
        // The event id's unique index moves to `EventIDIndex`'s database. SQLite cannot drop
        // a UNIQUE constraint, so the table is rebuilt; the AUTOINCREMENT high-water mark is
        // carried over so that no sequence a cursor has passed is handed out again. The
        // identity tells the index which journal it was built from.
        migrator.registerMigration("v4-event-ids-apart") { db in
            try db.execute(sql: """
                CREATE TABLE journal_v4 (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL,
                    org TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    type TEXT NOT NULL,
                    subject TEXT,
                    received_at REAL NOT NULL,
                    event BLOB NOT NULL,
                    raw_type TEXT,
                    raw_body BLOB
                );
                INSERT INTO journal_v4 (seq, event_id, org, channel, type, subject, received_at, event, raw_type, raw_body)
                    SELECT seq, event_id, org, channel, type, subject, received_at, event, raw_type, raw_body FROM journal ORDER BY seq;
                DELETE FROM sqlite_sequence WHERE name = 'journal_v4';
                INSERT INTO sqlite_sequence (name, seq) SELECT 'journal_v4', seq FROM sqlite_sequence WHERE name = 'journal';
                DROP TABLE journal;
                ALTER TABLE journal_v4 RENAME TO journal;
                CREATE INDEX journal_org_seq ON journal(org, seq);
                CREATE TABLE identity (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    journal TEXT NOT NULL
                );
                INSERT INTO identity (id, journal) VALUES (1, lower(hex(randomblob(16))));
                """)
        }
        // The quarantine's bound is per org (one org's bad bodies must not push out
        // another's): its trim and the org API read by org, newest first.
        migrator.registerMigration("v5-quarantine-by-org") { db in
            try db.execute(sql: "CREATE INDEX quarantine_org ON quarantine(org, id)")
        }
        // Where each subscription began (its first cursor): a replay of a `from: end`
        // subscription leaves out what it never took. Unknown for older cursors: 0.
        migrator.registerMigration("v6-cursor-start") { db in
            try db.execute(sql: "ALTER TABLE cursors ADD COLUMN start INTEGER NOT NULL DEFAULT 0")
        }
        // Retention skips entries waiting in a retry queue by sequence, whatever the
        // subscription: without this index each pass copied the whole queue (millions of rows
        // after a long console outage) into a temporary one, once per org.
        migrator.registerMigration("v7-queue-by-seq") { db in
            try db.execute(sql: "CREATE INDEX delivery_queue_seq ON delivery_queue(seq)")
        }
        // A request's body is stored once, however many events it carried: each of a
        // batch's N events (Meta, Gupshup v3) kept a copy, N times the disk for orgs with a
        // `native` subscription. Rows written before keep theirs in `raw_type`/`raw_body`
        // and leave with them: moving them rewrote the whole journal in one transaction at
        // start, with nothing listening meanwhile.
        migrator.registerMigration("v8-request-bodies") { db in
            try db.execute(sql: """
                CREATE TABLE request_bodies (
                    id INTEGER PRIMARY KEY,
                    content_type TEXT,
                    body BLOB NOT NULL
                );
                ALTER TABLE journal ADD COLUMN body_id INTEGER;
                CREATE INDEX journal_body ON journal(body_id) WHERE body_id IS NOT NULL;
                """)
        }
        // A first version of v8 (in main's history, never released) moved the bodies and
        // dropped `raw_type`/`raw_body`; reads name both, so a journal it migrated gets them
        // back (empty: its bodies are in `request_bodies`). Adding a column rewrites nothing.
        migrator.registerMigration("v9-row-body-columns") { db in
            let columns = Set(try db.columns(in: "journal").map(\.name))
            for (name, type) in [("raw_type", "TEXT"), ("raw_body", "BLOB")] where !columns.contains(name) {
                try db.execute(sql: "ALTER TABLE journal ADD COLUMN \(name) \(type)")
            }
        }
        // A subscription that leaves the configuration keeps its cursor, retry queue and
        // dead letters for a while (`retireSubscriptions`): a plugins.d file missing at one
        // reload or restart must not throw away what it had not delivered.
        migrator.registerMigration("v10-retired-subscriptions") { db in
            try db.execute(sql: """
                CREATE TABLE retired_subscriptions (
                    subscription TEXT PRIMARY KEY,
                    retired_at REAL NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        return migrator
    }

    /// The most bodies the quarantine keeps per org, and the most bytes of each.
    public static let quarantineLimit = 1000
    public static let quarantineBodyLimit = 64 * 1024

    /// Inserts the rows of the events that are `fresh`; returns each one's sequence, nil for a
    /// duplicate.
    private static func insert(_ events: [Event], fresh: [Bool], db: Database) throws -> [Int64?] {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO journal (event_id, org, channel, type, subject, received_at, event, body_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let now = Date().timeIntervalSince1970
        // The events of one request come one after the other and share their body's storage:
        // comparing it with the last one stored is cheap (the same buffer compares equal at
        // once, bodies of other lengths at once too).
        var stored: (org: String, payload: RawPayload, id: Int64)?
        // Bound through SQLite's C API (SQLiteBinding): this runs for every event, on the
        // commit thread every webhook waits for.
        return try zip(events, fresh).map { event, fresh in
            guard fresh else { return nil }
            var bodyID: Int64?
            if let raw = event.raw {
                if let stored, stored.org == event.org, stored.payload == raw {
                    bodyID = stored.id
                } else {
                    try db.cachedStatement(sql: "INSERT INTO request_bodies (content_type, body) VALUES (?, ?)")
                        .run([SQLiteValue(raw.contentType), .blob(raw.body)])
                    bodyID = db.lastInsertedRowID
                    stored = (event.org, raw, db.lastInsertedRowID)
                }
            }
            try statement.run([
                .text(event.id), .text(event.org), .text(event.channel), .text(event.type.rawValue), SQLiteValue(event.subject),
                .real(now), .blob(event.cloudEventBytes), bodyID.map(SQLiteValue.integer) ?? .null,
            ])
            return db.lastInsertedRowID
        }
    }

    /// A journal row's columns as `StoredEvent` reads them, from `journal j`; the bodies
    /// `body_id` names are read apart (`withBodies`). (Rows written before schema v8 have
    /// their body in their own columns.)
    static let storedEventColumns = "j.seq, j.event, j.body_id, j.raw_type, j.raw_body"

    /// Sequences as a JSON array, for `IN (SELECT value FROM json_each(?))`: one statement
    /// text whatever their number.
    static func jsonArray(_ sequences: some Sequence<Int64>) -> String {
        "[" + sequences.map(String.init).joined(separator: ",") + "]"
    }

    /// The org of a subscription id (`org/name`; org names have no `/`).
    static func org(ofSubscription id: String) -> String {
        String(id.prefix { $0 != "/" })
    }

    /// `rows` with the request bodies they name, each read once and shared by its events:
    /// joined per row, a batch's body was read and copied once per event (512 copies of a
    /// 3 MB Meta batch in one page, for each subscription catching up).
    static func withBodies(_ rows: [StoredEvent], db: Database) throws -> [StoredEvent] {
        let ids = Set(rows.compactMap(\.bodyID))
        guard !ids.isEmpty else { return rows }
        var bodies: [Int64: RawPayload] = [:]
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, content_type, body FROM request_bodies WHERE id IN (SELECT value FROM json_each(?))"),
            arguments: [Self.jsonArray(ids)])
        {
            bodies[row["id"]] = RawPayload(contentType: row["content_type"], body: Array(row["body"] as Data))
        }
        return rows.map { row in
            var row = row
            if let id = row.bodyID { row.raw = bodies[id] }
            return row
        }
    }

    public func append(_ events: [Event], completion: @escaping @Sendable (Result<[Int64?], JournalUnavailable>) -> Void) {
        guard !events.isEmpty else { return completion(.success([])) }
        // Serialized here, on the caller's thread, not on the commit thread every webhook
        // goes through; the serialized form stays with the events the dispatchers get.
        writer.submit(events.map { $0.keepingCloudEventBytes() }) { [self] committed in
            switch committed {
            case .success(let sequences):
                writable.store(true, ordering: .relaxed)
                completion(.success(Array(sequences)))
            case .failure(let error):
                writable.store(false, ordering: .relaxed)
                completion(.failure(error as? JournalUnavailable ?? JournalUnavailable(reason: "\(error)")))
            }
        }
    }

    public func readinessProblem() async -> String? {
        await readinessProblem(stuckAfter: .seconds(5))
    }

    /// A WAL sync waiting for descriptors or memory fails now instead (a shutdown whose
    /// grace ran out: the dispatchers' last saves would wait for it for ever).
    public func abandonSyncWaits() {
        pool.sync?.abandonResourceWait()
    }

    /// `stuckAfter`: how long a commit or an fsync may run before the disk counts as hung.
    func readinessProblem(stuckAfter: Duration) async -> String? {
        // Whatever the last append said: on a hung disk no append fails, they wait, and each
        // webhook gets 503 only after server.idle_timeout. A load balancer should send them
        // elsewhere meanwhile.
        if let stuck = [writer.busyFor, pool.sync?.busyFor].compactMap({ $0 }).max(), stuck >= stuckAfter {
            return "a journal commit or fsync has been running for \(Int(stuck.secondsValue)) s: is the disk hung?"
        }
        if writable.load(ordering: .relaxed) { return nil }
        // One probe at a time, however many /readyz requests come in; each gets its answer,
        // or "not ready" after 2 s (a probe stuck on a hung disk holds nobody).
        guard await probe.run(timeout: .seconds(2)) == true else { return "the journal cannot be written" }
        writable.store(true, ordering: .relaxed)
        return nil
    }

    /// Whether the journal takes writes again. A write of SQLite's own alone would not tell:
    /// after a checkpoint it rewrites WAL pages the file already has, and succeeds on a full
    /// disk. Room for a few commits' pages does; the write then shows the file takes writes
    /// at all (permissions, a read-only remount).
    private static func probeWrites(_ pool: GatedPool, spaceProbePath: String) async -> Bool {
        guard pool.acceptsWrites, hasRoom(for: 1 << 20, probing: spaceProbePath) else { return false }
        do {
            try await pool.write { db in try db.execute(sql: "UPDATE identity SET journal = journal WHERE id = 1") }
            return true
        } catch {
            return false
        }
    }

    /// Whether `bytes` can be allocated beside the journal (a file allocated and removed).
    private static func hasRoom(for bytes: Int, probing path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        defer {
            Glibc.close(descriptor)
            unlink(path)
        }
        return posix_fallocate(descriptor, 0, off_t(bytes)) == 0
    }

    /// Writes the event ids waiting in memory into their index now (tests).
    func writeEventIDs() throws {
        try eventIDs.write()
    }

    public func entries(org: String, after sequence: Int64, limit: Int) async throws -> [JournalEntry] {
        if let entries = recent.entries(org: org, after: sequence, limit: limit) { return entries }
        let decoded = self.decoded
        // Rows past the tail's newest are committed and not yet durable (fsynced, with
        // `full`): SQLite's readers see them, but delivered now one could reach a console
        // although its provider was answered 503, or be lost on power after the console
        // took it.
        let durable = recent.newest
        let (cached, missing) = try await pool.read { db in
            // Sequences first, from the (org, seq) index alone: the subscriptions of an org
            // catch up over the same pages, so bodies (overflow pages, often) are read and
            // parsed only for events none of them has read yet.
            let sequences = try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT seq FROM journal WHERE org = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"),
                arguments: [org, sequence, durable, limit])
            var cached: [JournalEntry] = []
            var missing: [Int64] = []
            for sequence in sequences {
                if let event = decoded.event(sequence) {
                    cached.append(JournalEntry(sequence: sequence, event: event))
                } else {
                    missing.append(sequence)
                }
            }
            guard !missing.isEmpty else { return (cached, [StoredEvent]()) }
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT \(Self.storedEventColumns) FROM journal j
                    WHERE j.seq IN (SELECT value FROM json_each(?)) ORDER BY j.seq
                    """),
                arguments: [Self.jsonArray(missing)]
            ).map(StoredEvent.init(row:))
            return (cached, try Self.withBodies(rows, db: db))
        }
        guard !missing.isEmpty else { return cached }
        return try (cached + missing.map(entry(from:))).sorted { $0.sequence < $1.sequence }
    }

    /// A journal row as read, before parsing.
    struct StoredEvent: Sendable {
        var sequence: Int64
        var json: Data
        /// The request body in `request_bodies`, set in `raw` by `withBodies`.
        var bodyID: Int64?
        var raw: RawPayload?

        init(row: Row) {
            sequence = row["seq"]
            json = row["event"]
            bodyID = row["body_id"]
            if let body = row["raw_body"] as Data? {
                raw = RawPayload(contentType: row["raw_type"], body: Array(body))
            }
        }
    }

    /// Every subscription of an org reads the same entries at about the same time: parse
    /// each once (parsing was the dispatchers' largest cost).
    func entry(from row: StoredEvent) throws -> JournalEntry {
        if let event = decoded.event(row.sequence) { return JournalEntry(sequence: row.sequence, event: event) }
        var event = try Event(cloudEventJSON: row.json)
        event.raw = row.raw
        decoded.insert(event, sequence: row.sequence)
        return JournalEntry(sequence: row.sequence, event: event)
    }

    public func count(org: String, after sequence: Int64) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journal WHERE org = ? AND seq > ?", arguments: [org, sequence]) ?? 0
        }
    }

    public func lastSequence() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM journal") ?? 0 }
    }

    public func cursor(subscription: String) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM cursors WHERE subscription = ?", arguments: [subscription])
        }
    }

    public func setCursor(_ sequence: Int64, subscription: String) async throws {
        try await pool.write { db in
            try db.execute(sql: Self.saveCursor, arguments: [subscription, sequence, sequence, Date().timeIntervalSince1970])
        }
    }

    /// Saves a cursor (subscription, seq, start, updated_at). `start` is written only with a
    /// new row: where the subscription began, so that a replay leaves out what came before.
    static let saveCursor = """
        INSERT INTO cursors (subscription, seq, start, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(subscription) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
        """

    public func retireSubscriptions(except subscriptions: Set<String>) async throws -> RetirementChange {
        try await pool.write { db in
            let now = Date().timeIntervalSince1970
            var change = RetirementChange()
            for row in try Row.fetchAll(db, sql: "SELECT subscription, retired_at FROM retired_subscriptions") {
                let subscription: String = row["subscription"]
                guard subscriptions.contains(subscription) else { continue }
                change.unretired.append((subscription, row["retired_at"]))
                try db.execute(sql: "DELETE FROM retired_subscriptions WHERE subscription = ?", arguments: [subscription])
            }
            let retired = try String.fetchSet(db, sql: "SELECT subscription FROM retired_subscriptions")
            change.retired = try Self.subscriptionsWithState(db).subtracting(subscriptions).subtracting(retired).sorted()
            for subscription in change.retired {
                try db.execute(
                    sql: "INSERT INTO retired_subscriptions (subscription, retired_at) VALUES (?, ?)", arguments: [subscription, now])
            }
            return change
        }
    }

    public func undo(_ change: RetirementChange) async throws {
        try await pool.write { db in
            for subscription in change.retired {
                try db.execute(sql: "DELETE FROM retired_subscriptions WHERE subscription = ?", arguments: [subscription])
            }
            for (subscription, at) in change.unretired {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO retired_subscriptions (subscription, retired_at) VALUES (?, ?)", arguments: [subscription, at])
            }
        }
    }

    public func forgetRetiredSubscriptions(olderThan age: Duration) async throws -> [String] {
        try await forgetRetiredSubscriptions(olderThan: age, batchSize: 5000)
    }

    /// In batches of `batchSize` queued events and dead letters: a retired console's queue
    /// can hold millions after a long outage, and one DELETE held the writer, and every
    /// webhook behind it, for seconds. Each batch checks again that the subscription is still
    /// retired that long, since a reload may configure it again in between.
    func forgetRetiredSubscriptions(olderThan age: Duration, batchSize: Int) async throws -> [String] {
        let cutoff = Date().timeIntervalSince1970 - age.secondsValue
        let due = try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT subscription FROM retired_subscriptions WHERE retired_at <= ? ORDER BY subscription", arguments: [cutoff])
        }
        var forgotten: [String] = []
        for subscription in due {
            while true {
                let step: ForgetStep = try await pool.write { db in
                    guard try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM retired_subscriptions WHERE subscription = ? AND retired_at <= ?",
                        arguments: [subscription, cutoff]) == true
                    else { return .configuredAgain }
                    try db.execute(
                        sql: "DELETE FROM delivery_queue WHERE subscription = ?1 AND seq IN (SELECT seq FROM delivery_queue WHERE subscription = ?1 ORDER BY seq LIMIT ?2)",
                        arguments: [subscription, batchSize])
                    var deleted = db.changesCount
                    try db.execute(
                        sql: "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE subscription = ? LIMIT ?)",
                        arguments: [subscription, batchSize])
                    deleted += db.changesCount
                    guard deleted == 0 else { return .more }
                    for table in ["cursors", "retired_subscriptions"] {
                        try db.execute(sql: "DELETE FROM \(table) WHERE subscription = ?", arguments: [subscription])
                    }
                    return .done
                }
                if step == .more { continue }
                if step == .done { forgotten.append(subscription) }
                break
            }
        }
        for subscription in forgotten { released(subscription: subscription) }
        return forgotten
    }

    private enum ForgetStep: Sendable {
        case more, done, configuredAgain
    }

    /// Every subscription the journal holds a cursor, a queued event or a dead letter for.
    private static func subscriptionsWithState(_ db: Database) throws -> Set<String> {
        try String.fetchSet(
            db, sql: "SELECT subscription FROM cursors UNION SELECT subscription FROM delivery_queue UNION SELECT subscription FROM dead_letters")
    }

    public func deadLetters(subscription: String, limit: Int = 1000) async throws -> [DeadLetter] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, event_id, attempts, reason, failed_at FROM dead_letters WHERE subscription = ? ORDER BY seq LIMIT ?",
                arguments: [subscription, limit]
            ).map {
                DeadLetter(
                    sequence: $0["seq"], eventID: $0["event_id"], attempts: $0["attempts"], reason: $0["reason"],
                    failedAt: Date(timeIntervalSince1970: $0["failed_at"]))
            }
        }
    }

    /// Number of stored events, for tests and `check`.
    public func count() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journal") ?? 0 }
    }

    public func quarantine(org: String, channel: String, reason: String, contentType: String?, body: [UInt8]) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO quarantine (org, channel, reason, content_type, body, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [org, channel, reason, contentType, Data(body.prefix(Self.quarantineBodyLimit)), Date().timeIntervalSince1970])
            try db.execute(
                sql: """
                    DELETE FROM quarantine WHERE org = ?1
                        AND id <= (SELECT id FROM quarantine WHERE org = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                    """,
                arguments: [org, Self.quarantineLimit])
        }
    }

    public func quarantined(org: String? = nil, limit: Int = 100) async throws -> [QuarantinedBody] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT org, channel, reason, content_type, body, received_at FROM quarantine
                    WHERE ?1 IS NULL OR org = ?1 ORDER BY id DESC LIMIT ?2
                    """,
                arguments: [org, limit]
            ).map {
                QuarantinedBody(
                    org: $0["org"], channel: $0["channel"], reason: $0["reason"], contentType: $0["content_type"],
                    body: Array($0["body"] as Data), receivedAt: Date(timeIntervalSince1970: $0["received_at"]))
            }
        }
    }

    public func prune(olderThan age: Duration, batchSize: Int) async throws -> Int {
        let cutoff = Date().timeIntervalSince1970 - Double(age.components.seconds)
        let pool = self.pool
        let deleted = Mutex<[Int64]>([])
        // Even if forgetting the ids fails, what the journal deleted leaves memory too.
        defer { if let last = deleted.withLock({ $0.max() }) { recent.forget(through: last) } }
        // The index's writer first, then the journal's: the order the commit thread takes them.
        try await eventIDs.forget {
            // On a copy, kept only once committed, and only if no queue let entries go
            // meanwhile (`released`): not under the lock for the pass's SQL.
            var held = self.heldThrough.withLock { $0 }
            let rows = try pool.writeBlocking { db in try Self.deleteTaken(db, olderThan: cutoff, limit: batchSize, held: &held) }
            self.heldThrough.withLock { if $0.generation == held.generation { $0 = held } }
            deleted.withLock { $0 = rows.map(\.sequence) }
            // The deletion reaches the disk before the index forgets: the other way round, a
            // power cut could keep the forgetting and lose the deletion, and a late retry of
            // an event still in the journal would be journaled twice.
            if !rows.isEmpty { try pool.sync?.syncNow() }
            return rows.map(\.eventID)
        }
        return deleted.withLock { $0.count }
    }

    /// Deletes up to `limit` entries received before `cutoff` that every subscription of
    /// their org has taken, oldest first, and returns them.
    ///
    /// Each org waits only for its own subscriptions' cursors (an org with none waits for
    /// nobody): with one bound for all, an org that received nothing kept its cursor at the
    /// start and nothing was ever pruned. Each org is read through its `(org, seq)` index
    /// from its oldest entry and stops at the first one too young, so a pass reads about
    /// `limit` rows; filtering on `received_at` instead scanned the whole retention window
    /// (every row newer than the cutoff) on every pass, holding the writer.
    ///
    /// Entries held for a retry queue or as dead letters are skipped, and after a console's
    /// long outage they are an org's oldest (millions of them): each pass read them all
    /// again, holding the writer. `held` remembers, per org, through which sequence every
    /// entry left is held, and passes start after it; it is forgotten every
    /// `HeldEntries.rescan`, and for an org whenever a settlement takes entries out of a
    /// queue (`released`), so entries let go are deleted at the next pass.
    static func deleteTaken(
        _ db: Database, olderThan cutoff: Double, limit: Int, held: inout HeldEntries
    ) throws -> [(sequence: Int64, eventID: String)] {
        held.rescanIfDue()
        let inTheFuture = Date().timeIntervalSince1970 + Timestamp.clockSlack
        var bounds: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT subscription, seq FROM cursors") {
            let org = Self.org(ofSubscription: row["subscription"])
            bounds[org] = min(bounds[org] ?? .max, row["seq"])
        }
        // The orgs that have entries, one index seek each.
        let orgs = try String.fetchAll(
            db,
            sql: """
                WITH RECURSIVE orgs(org) AS (
                    SELECT (SELECT org FROM journal ORDER BY org LIMIT 1)
                    UNION ALL
                    SELECT (SELECT org FROM journal WHERE org > orgs.org ORDER BY org LIMIT 1) FROM orgs WHERE orgs.org IS NOT NULL)
                SELECT org FROM orgs WHERE org IS NOT NULL
                """)
        // Events waiting in a retry queue or kept as dead letters stay for replay. Probed per
        // entry through the queues' seq indexes: `NOT IN (SELECT …)` copied both whole.
        let kept = """
            NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.seq = journal.seq)
            AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.seq = journal.seq)
            """
        var deleted: [(sequence: Int64, eventID: String)] = []
        for org in orgs where deleted.count < limit {
            let bound = bounds[org] ?? .max
            let from = held.through[org] ?? 0
            let candidates = try Row.fetchCursor(
                db,
                sql: "SELECT seq, event_id, received_at FROM journal WHERE org = ?1 AND seq > ?4 AND seq <= ?2 AND \(kept) ORDER BY seq LIMIT ?3",
                arguments: [org, bound, limit - deleted.count, from])
            // Entries are received in about sequence order: the first too young ends the run
            // (and the read: a cursor steps through the index, reading no further).
            var old: [(sequence: Int64, eventID: String)] = []
            var tooYoung: Int64?
            // Stamped in the future (received while the clock was set ahead): as old as the
            // entries after it. As too young, it stopped every pass until that date came.
            var future: [(sequence: Int64, eventID: String)] = []
            while let row = try candidates.next() {
                let receivedAt: Double = row["received_at"]
                if receivedAt > inTheFuture {
                    future.append((row["seq"], row["event_id"]))
                    continue
                }
                guard receivedAt < cutoff else {
                    tooYoung = future.first?.sequence ?? row["seq"]
                    break
                }
                old += future
                future = []
                old.append((row["seq"], row["event_id"]))
            }
            // A page of nothing but future stamps: the first entry after them that is not
            // one says how old they are (or a large enough block stopped every pass again).
            if let first = future.first, let last = future.last, tooYoung == nil {
                let next = try Double.fetchOne(
                    db,
                    sql: "SELECT received_at FROM journal WHERE org = ?1 AND seq > ?2 AND seq <= ?3 AND received_at <= ?4 AND \(kept) ORDER BY seq LIMIT 1",
                    arguments: [org, last.sequence, bound, inTheFuture])
                if let next, next < cutoff {
                    old += future
                } else {
                    tooYoung = first.sequence
                }
            }
            // What this pass leaves before the entry too young to go, or through the last it
            // deletes, is held; with no entry at all, everything up to the cursors is.
            if let tooYoung {
                held.through[org] = tooYoung - 1
            } else if let last = old.last {
                held.through[org] = last.sequence
            } else if bound != .max {
                held.through[org] = max(from, bound)
            }
            guard let first = old.first, let last = old.last else { continue }
            let deleting = "FROM journal WHERE org = ?1 AND seq BETWEEN ?2 AND ?3 AND \(kept)"
            let bodies = try Int64.fetchSet(
                db, sql: "SELECT DISTINCT body_id \(deleting) AND body_id IS NOT NULL", arguments: [org, first.sequence, last.sequence])
            try db.execute(sql: "DELETE \(deleting)", arguments: [org, first.sequence, last.sequence])
            // A body goes with the last event that carried it: events of one request can
            // leave at different passes (one waits in a retry queue).
            for body in bodies {
                try db.execute(
                    sql: "DELETE FROM request_bodies WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM journal WHERE body_id = ?1)",
                    arguments: [body])
            }
            deleted += old
        }
        return deleted
    }

    /// Where retention passes start, per org (see `deleteTaken`).
    struct HeldEntries {
        static let rescan: Duration = .seconds(3600)
        var through: [String: Int64] = [:]
        /// Moved on by each release, so that a pass that ran meanwhile does not undo it.
        var generation = 0
        var since = ContinuousClock.now
        var rescanInterval = Self.rescan

        mutating func rescanIfDue() {
            guard ContinuousClock.now - since >= rescanInterval else { return }
            through = [:]
            since = .now
        }
    }

    public func pruneAttempts(olderThan age: Duration, batchSize: Int) async throws -> Int {
        let cutoff = Date().timeIntervalSince1970 - Double(age.components.seconds)
        return try await pool.write { db in
            // Oldest first, stopping at the first too young (attempts are recorded in about
            // time order): filtering on the time scanned every younger row on each pass.
            let rows = try Row.fetchAll(db, sql: "SELECT id, attempted_at FROM delivery_attempts ORDER BY id LIMIT ?", arguments: [batchSize])
            // A time in the future (a clock set ahead) is not a reason to stop for good.
            let inTheFuture = Date().timeIntervalSince1970 + Timestamp.clockSlack
            guard let last = rows.prefix(while: { ($0["attempted_at"] as Double) < cutoff || ($0["attempted_at"] as Double) > inTheFuture }).last
            else { return 0 }
            try db.execute(sql: "DELETE FROM delivery_attempts WHERE id <= ?", arguments: [last["id"]])
            return db.changesCount
        }
    }

    public func wakeOnCommit(_ continuation: AsyncStream<Void>.Continuation) {
        commits.add(continuation)
    }

    public func close() async throws {
        abandonSyncWaits()
        commits.finish()
        writer.stop()
        let closedIDs = Result { try eventIDs.close() }
        try await pool.close()
        try closedIDs.get()
    }
}

public final class JournalStats: Sendable {
    /// Transactions committed by appends.
    public let commits = Atomic<Int>(0)
    /// Events submitted to those transactions (duplicates included).
    public let events = Atomic<Int>(0)
    private let sync: WALSync?

    init(sync: WALSync?) {
        self.sync = sync
    }

    /// fsyncs of the WAL that commits waited for (`durability: full`; 0 with `normal`).
    public var syncs: Int { sync?.syncs.load(ordering: .relaxed) ?? 0 }
}

/// The most recently read entries, parsed, shared by the dispatchers. Only events of up to
/// `largest` bytes (serialized, with their request body) are kept: the bound is a count, and
/// 2048 events of a few MB each (a catch-up through large bodies) would be gigabytes.
final class DecodedEvents: Sendable {
    static let largest = 16 * 1024

    private struct State {
        var events: [Int64: Event] = [:]
        var order: [Int64] = []
        var next = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func event(_ sequence: Int64) -> Event? {
        state.withLock { $0.events[sequence] }
    }

    /// Inserts, evicting the oldest insertion once full (a ring of sequence numbers).
    func insert(_ event: Event, sequence: Int64) {
        guard (event.storedJSON?.count ?? 0) + (event.raw?.body.count ?? 0) <= Self.largest else { return }
        state.withLock { state in
            guard state.events[sequence] == nil else { return }
            if state.order.count < capacity {
                state.order.append(sequence)
            } else {
                state.events[state.order[state.next]] = nil
                state.order[state.next] = sequence
                state.next = (state.next + 1) % capacity
            }
            state.events[sequence] = event
        }
    }
}

/// The dispatchers waiting for commits (`Journal.wakeOnCommit`).
final class CommitSignal: Sendable {
    private let waiting = Mutex<[AsyncStream<Void>.Continuation]>([])

    func add(_ continuation: AsyncStream<Void>.Continuation) {
        waiting.withLock { $0.append(continuation) }
    }

    /// Wakes every subscriber; forgets those whose stream ended.
    func signal() {
        waiting.withLock { waiting in
            waiting.removeAll { continuation in
                if case .terminated = continuation.yield() { return true }
                return false
            }
        }
    }

    func finish() {
        waiting.withLock { waiting in
            for continuation in waiting { continuation.finish() }
            waiting.removeAll()
        }
    }
}
