import Foundation
import GRDB
import TickwireCore

/// The retry queue (`delivery_queue`), the attempt log (`delivery_attempts`) and replay.
extension SQLiteJournal {
    public func settle(_ settlement: DeliverySettlement, subscription: String) async throws {
        guard !settlement.isEmpty else { return }
        try await pool.write { db in
            let attempt = try db.cachedStatement(sql: """
                INSERT INTO delivery_attempts (subscription, seq, event_id, attempt, attempted_at, status, latency_ms, error, outcome)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for record in settlement.attempts {
                try attempt.execute(arguments: [
                    subscription, record.sequence, record.eventID, record.attempt, record.at.timeIntervalSince1970, record.status,
                    record.latency.secondsValue * 1000, record.error, record.outcome,
                ])
            }
            let queue = try db.cachedStatement(sql: """
                INSERT INTO delivery_queue (subscription, seq, key, attempts, first_attempt_at, next_attempt_at, last_error)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(subscription, seq) DO UPDATE SET
                attempts = excluded.attempts, first_attempt_at = excluded.first_attempt_at,
                next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error
                """)
            for row in settlement.queue {
                try queue.execute(arguments: [
                    subscription, row.entry.sequence, row.key, row.attempts, row.firstAttemptAt?.timeIntervalSince1970,
                    row.nextAttemptAt.timeIntervalSince1970, row.lastError,
                ])
            }
            let remove = try db.cachedStatement(sql: "DELETE FROM delivery_queue WHERE subscription = ? AND seq = ?")
            for sequence in settlement.removed { try remove.execute(arguments: [subscription, sequence]) }
            let dead = try db.cachedStatement(sql: """
                INSERT INTO dead_letters (subscription, seq, event_id, attempts, reason, failed_at)
                VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(subscription, seq) DO UPDATE
                SET attempts = excluded.attempts, reason = excluded.reason, failed_at = excluded.failed_at
                """)
            for letter in settlement.deadLetters {
                try dead.execute(arguments: [
                    subscription, letter.sequence, letter.eventID, letter.attempts, letter.reason, letter.failedAt.timeIntervalSince1970,
                ])
            }
            if let cursor = settlement.cursor {
                // A cursor saved here without one before has an unknown start: 0.
                try db.execute(sql: Self.saveCursor, arguments: [subscription, cursor, 0, Date().timeIntervalSince1970])
            }
        }
        // Entries that left the queue may go at the next retention pass.
        if let first = settlement.removed.min() { released(subscription: subscription, from: first) }
    }

    /// Retention passes of the subscription's org start at `sequence` again (from its first
    /// entry when nil): entries it skipped as held (queued or dead letters) from there on
    /// may no longer be.
    func released(subscription: String, from sequence: Int64? = nil) {
        let org = Self.org(ofSubscription: subscription)
        heldThrough.withLock { held in
            held.generation += 1
            guard let through = held.through[org] else { return }
            held.through[org] = sequence.map { min(through, $0 - 1) }
        }
    }

    public func queuedKeys(subscription: String, among keys: Set<String>) async throws -> Set<String> {
        guard !keys.isEmpty else { return [] }
        // One statement for the whole page: the keys go in as a JSON array.
        let list = JSONValue.array(keys.map(JSONValue.string)).serializedString()
        return try await pool.read { db in
            Set(try String.fetchAll(
                db.cachedStatement(sql: """
                    SELECT DISTINCT key FROM delivery_queue
                    WHERE subscription = ? AND key IN (SELECT value FROM json_each(?))
                    """),
                arguments: [subscription, list]))
        }
    }

    /// Queue rows with their events (what `StoredQueueRow` reads).
    private static let queueRows = """
        SELECT q.key, q.attempts, q.first_attempt_at, q.next_attempt_at, q.last_error, \(storedEventColumns)
        FROM delivery_queue q JOIN journal j ON j.seq = q.seq
        """

    /// Rows heading their key's queue: the lowest sequence of each key.
    private static let heads = queueRows + "\n" + """
        WHERE q.subscription = ?1
          AND q.seq = (SELECT MIN(seq) FROM delivery_queue h WHERE h.subscription = ?1 AND h.key = q.key)
        """

    public func dueDeliveries(subscription: String, now: Date, limit: Int) async throws -> [QueuedDelivery] {
        let rows = try await pool.read { db in
            var rows = try Row.fetchAll(
                db, sql: Self.heads + " AND q.next_attempt_at <= ?2 ORDER BY q.next_attempt_at, q.seq LIMIT ?3",
                arguments: [subscription, now.timeIntervalSince1970, limit]
            ).map(StoredQueueRow.init(row:))
            let events = try Self.withBodies(rows.map(\.event), db: db)
            for index in rows.indices { rows[index].event = events[index] }
            return rows
        }
        return try rows.map(queued(from:))
    }

    public func nextDue(subscription: String) async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM (\(Self.heads))", arguments: [subscription])
                .map(Date.init(timeIntervalSince1970:))
        }
    }

    public func queuedCount(subscription: String) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery_queue WHERE subscription = ?", arguments: [subscription]) ?? 0
        }
    }

    public func queued(subscription: String, limit: Int) async throws -> [QueuedEvent] {
        // Ids and types only: listing a queue of large native bodies read and parsed each.
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT q.seq, j.event_id, j.type, q.key, q.attempts, q.first_attempt_at, q.next_attempt_at, q.last_error
                    FROM delivery_queue q JOIN journal j ON j.seq = q.seq
                    WHERE q.subscription = ? ORDER BY q.seq LIMIT ?
                    """,
                arguments: [subscription, limit]
            ).map {
                QueuedEvent(
                    sequence: $0["seq"], eventID: $0["event_id"], type: $0["type"], key: $0["key"], attempts: $0["attempts"],
                    firstAttemptAt: ($0["first_attempt_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    nextAttemptAt: Date(timeIntervalSince1970: $0["next_attempt_at"]), lastError: $0["last_error"])
            }
        }
    }

    /// A queue row joined with its journal row, as read.
    struct StoredQueueRow: Sendable {
        var event: StoredEvent
        var key: String
        var attempts: Int
        var firstAttemptAt: Double?
        var nextAttemptAt: Double
        var lastError: String?

        init(row: Row) {
            event = StoredEvent(row: row)
            key = row["key"]
            attempts = row["attempts"]
            firstAttemptAt = row["first_attempt_at"]
            nextAttemptAt = row["next_attempt_at"]
            lastError = row["last_error"]
        }
    }

    private func queued(from row: StoredQueueRow) throws -> QueuedDelivery {
        QueuedDelivery(
            entry: try entry(from: row.event), key: row.key, attempts: row.attempts,
            firstAttemptAt: row.firstAttemptAt.map(Date.init(timeIntervalSince1970:)),
            nextAttemptAt: Date(timeIntervalSince1970: row.nextAttemptAt), lastError: row.lastError)
    }

    /// The attempts recorded for a subscription, oldest first.
    public func attempts(subscription: String, limit: Int = 10_000) async throws -> [DeliveryAttempt] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, event_id, attempt, attempted_at, status, latency_ms, error, outcome
                    FROM delivery_attempts WHERE subscription = ? ORDER BY id LIMIT ?
                    """,
                arguments: [subscription, limit]
            ).map {
                DeliveryAttempt(
                    sequence: $0["seq"], eventID: $0["event_id"], attempt: $0["attempt"],
                    at: Date(timeIntervalSince1970: $0["attempted_at"]), status: $0["status"],
                    latency: .milliseconds($0["latency_ms"] as Double), error: $0["error"], outcome: $0["outcome"])
            }
        }
    }

    public func requeue(
        subscription: String, org: String, cursor: Int64, range: ClosedRange<Date>, deadOnly: Bool,
        accept: @Sendable (_ channel: String, _ type: String) -> Bool
    ) async throws -> Int {
        let now = Date().timeIntervalSince1970
        // Found by reads, queued by small writes: the search for the range's rows reads past
        // every older row of the org (LIMIT counts matches, not rows read), and inside the
        // writer's transaction it held every webhook's commit for as long (a CLI replay
        // beside the daemon made them time out: 503s). A page per transaction, so that a
        // replay of days of traffic never holds the writer, nor every row in memory.
        var requeued = 0
        var after: Int64 = 0
        while true {
            let candidates = try await pool.read { [after] db in
                try Row.fetchAll(
                    db,
                    sql: deadOnly
                        ? """
                        SELECT j.seq, j.channel, j.type, COALESCE(j.subject, j.event_id) AS key
                        FROM dead_letters d JOIN journal j ON j.seq = d.seq
                        WHERE d.subscription = ?1 AND d.seq > ?6 AND j.org = ?2 AND j.seq <= ?3 AND j.received_at BETWEEN ?4 AND ?5
                        ORDER BY d.seq LIMIT ?7
                        """
                        : """
                        SELECT j.seq, j.channel, j.type, COALESCE(j.subject, j.event_id) AS key
                        FROM journal j
                        WHERE j.org = ?2 AND j.seq > ?6 AND j.seq <= ?3 AND j.received_at BETWEEN ?4 AND ?5
                            AND j.seq > COALESCE((SELECT start FROM cursors WHERE subscription = ?1), 0)
                        ORDER BY j.seq LIMIT ?7
                        """,
                    arguments: [
                        subscription, org, cursor, range.lowerBound.timeIntervalSince1970, range.upperBound.timeIntervalSince1970,
                        after, Self.requeuePage,
                    ]
                ).map { (sequence: $0["seq"] as Int64, channel: $0["channel"] as String, type: $0["type"] as String, key: $0["key"] as String) }
            }
            let accepted = candidates.filter { accept($0.channel, $0.type) }
            if !accepted.isEmpty {
                requeued += try await queue(accepted, subscription: subscription, deadOnly: deadOnly, now: now)
            }
            guard let last = candidates.last, candidates.count == Self.requeuePage else { return requeued }
            after = last.sequence
        }
    }

    /// Queues rows found by `requeue`'s read, only while still so: in the journal (retention
    /// may have taken one since), and for a dead-letter replay still a dead letter (or a
    /// second replay at the same time queued an event again that was delivered meanwhile).
    private func queue(
        _ rows: [(sequence: Int64, channel: String, type: String, key: String)], subscription: String, deadOnly: Bool, now: Double
    ) async throws -> Int {
        try await pool.write { db -> Int in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO delivery_queue (subscription, seq, key, attempts, first_attempt_at, next_attempt_at, last_error)
                SELECT ?1, ?2, ?3, 0, NULL, ?4, NULL WHERE EXISTS (SELECT 1 FROM journal WHERE seq = ?2)
                    AND (?5 = 0 OR EXISTS (SELECT 1 FROM dead_letters WHERE subscription = ?1 AND seq = ?2))
                ON CONFLICT(subscription, seq) DO NOTHING
                """)
            let forget = try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE subscription = ? AND seq = ?")
            var requeued = 0
            for row in rows {
                try insert.execute(arguments: [subscription, row.sequence, row.key, now, deadOnly])
                guard db.changesCount > 0 else { continue }
                requeued += 1
                try forget.execute(arguments: [subscription, row.sequence])
            }
            return requeued
        }
    }

    /// Journal rows a replay handles per transaction.
    static let requeuePage = 1000
}
