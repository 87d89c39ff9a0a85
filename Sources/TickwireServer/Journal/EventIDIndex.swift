import Foundation
import GRDB
import Synchronization
import TickwireCore
import TickwireSinks

/// Which event ids the journal holds: what makes a provider's retry a no-op. It is derived
/// from the journal and lives in a SQLite database of its own, next to it
/// (`journal-ids.sqlite`), which commits without an fsync.
///
/// Event ids are hashes, so each new id lands in a random leaf of a B-tree: as a unique index
/// inside the journal, that was one more 4 KiB page per event for every commit's fsync to
/// wait for (about 45 of a commit's 70 KiB), and webhooks wait for that fsync. Here those
/// pages reach the disk with the index's checkpoints, off the commit path
/// (bench/RESULTS.md, eighth session of 2026-11-30).
///
/// Nor are they written by the commit thread: a batch's new ids wait in memory (`pending`)
/// and a thread of its own writes them, sorted, about once a second. Written per commit,
/// each id still cost the commit thread a random leaf page (two `pwrite`s and a checkpoint
/// copy), and the index cost more than the journal itself; in one transaction a second,
/// ids sharing a leaf share its write (bench/RESULTS.md, ninth session). A batch is checked
/// against `pending` first and then the index: an id leaves `pending` only once the index
/// has it, so no id is ever in neither.
///
/// The index never gets ahead of the journal: ids are written only after the journal has
/// committed their rows. It may fall behind (a crash loses `pending`, or a write fails): it
/// records up to which journal sequence it is complete, and catches up from the journal's
/// rows past that before it is used again (at start into the index, while running into
/// `pending`). A missing or unreadable index file, or one that
/// is not this journal's, is rebuilt from the journal at start.
final class EventIDIndex: Sendable {
    private let database: SQLiteDatabase
    /// The commit thread's own read-only connection for the duplicate check: the pool's
    /// readers cost more to check out per batch than the lookups themselves.
    private let lookups: DatabaseQueue
    /// The journal, read to catch up.
    private let journal: DatabasePool
    /// Set when the index may lack rows the journal has (a failed commit, or rows journaled
    /// by someone else): catch up before the next batch.
    private let behind = Atomic<Bool>(false)
    private let pending = Mutex(Pending())
    /// One write of `pending` at a time (the writer thread, a catch-up, a prune, close).
    private let writing = NSLock()
    private let writer: PeriodicThread
    let limits: Limits

    /// Ids journaled and not yet in the index, in journal order.
    private struct Pending {
        var ids: Set<String> = []
        var rows: [(sequence: Int64, id: String)] = []
        /// The sequence of the last row the index or `pending` covers: the next batch's rows
        /// must follow it, or some were journaled behind this index's back.
        var last: Int64 = 0
    }

    struct Limits: Sendable {
        /// How often `pending` is written while ids arrive.
        var interval: Duration = .seconds(1)
        /// Written at once past this many.
        var flushAt = 50_000
        /// Past this many (the index cannot be written), appends fail: a webhook answered 503
        /// is retried, one whose duplicate check cannot be kept would be stored twice.
        var most = 1_000_000
    }

    /// Not a database, or a damaged one, whether SQLite said so opening it or migrating it.
    private static func isUnreadable(_ error: any Error) -> Bool {
        let sqlite = (error as? SQLiteDatabase.OpenError)?.underlying ?? (error as? DatabaseError)
        return sqlite.map { [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains($0.resultCode) } ?? false
    }

    /// The index of the journal at `journalPath`, opened (created, or recreated if SQLite
    /// cannot open it) and caught up with `journal`. Damage SQLite only finds later (a bad page
    /// inside) fails appends until the file is deleted; it is rebuilt at the next start.
    init(journalPath: String, journal: DatabasePool, limits: Limits = Limits()) throws {
        let path = Self.path(journalPath: journalPath)
        do {
            database = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
        } catch where Self.isUnreadable(error) {
            // Derived data: start over rather than refuse to start.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            database = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
        }
        self.journal = journal
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(5)
        lookups = try DatabaseQueue(path: path, configuration: readOnly)
        self.limits = limits
        writer = PeriodicThread(name: "tw-event-ids")
        // Start over from an index that is not this journal's as it is now: one built from
        // another journal (the file was replaced), or one ahead of it, holding ids of
        // transactions the journal does not have (restored from a backup, or lost on power
        // before their fsync: neither file is synced by its commit). Such an index
        // would refuse those events' retries, and hand out their sequences' ids again.
        let highWater = try database.pool.write { db -> Int64 in
            // Read under the index's writer: a daemon committing meanwhile (this may be
            // `tickwire replay` in another process) cannot move the journal past what is read.
            let (identity, highWater) = try journal.read { journal in
                (
                    try String.fetchOne(journal, sql: "SELECT journal FROM identity") ?? "",
                    try Int64.fetchOne(journal, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'journal'") ?? 0
                )
            }
            let row = try Row.fetchOne(db, sql: "SELECT journal, seq FROM complete_through")
            if row?["journal"] != identity || (row?["seq"] ?? 0) > highWater {
                try db.execute(sql: "DELETE FROM event_ids")
                try db.execute(sql: "UPDATE complete_through SET journal = ?, seq = 0", arguments: [identity])
            }
            return highWater
        }
        try catchUp()
        // The next row journaled follows the highest sequence ever handed out, which is past
        // the last row when the newest were pruned.
        pending.withLock { $0.last = max($0.last, highWater) }
        // The first turn is one interval after the catch-up, not as the thread starts (when
        // nothing waits yet, or, on a busy machine, whatever the first appends left).
        writer.start(true) { [weak self, interval = limits.interval] first in
            guard !first else {
                first = false
                return interval
            }
            // What cannot be written stays in `pending` for the next turn; appends fail past
            // `limits.most`.
            try? self?.write()
            return interval
        }
    }

    /// Adds an id; a duplicate changes nothing (`changesCount` 0).
    private static let insertID = "INSERT INTO event_ids (event_id) VALUES (?) ON CONFLICT DO NOTHING"

    /// `journal.sqlite` → `journal-ids.sqlite`, in the same directory.
    static func path(journalPath: String) -> String {
        (journalPath as NSString).deletingPathExtension + "-ids.sqlite"
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE event_ids (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
                CREATE TABLE complete_through (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    journal TEXT NOT NULL,
                    seq INTEGER NOT NULL
                );
                INSERT INTO complete_through (id, journal, seq) VALUES (1, '', 0);
                """)
        }
        return migrator
    }

    /// Records the ids of a batch and has `journaling` store the events whose ids are new
    /// (`fresh[i]`; the second of two equal ids in a batch is not). Returns what `journaling`
    /// returns: each event's sequence, nil for a duplicate. Runs on the journal's commit
    /// thread, one batch at a time.
    func record(_ ids: [String], journaling: ([Bool]) throws -> [Int64?]) throws -> [Int64?] {
        if behind.load(ordering: .relaxed) {
            // Into the index, which also steps over sequences the journal skipped (its
            // newest rows pruned); into memory when the index cannot be written.
            do { try catchUp() } catch { try catchUpInMemory() }
        }
        // `pending` before the index: an id leaves `pending` after the index has it, so
        // the read below, which starts later, sees every id not found here.
        let (inPending, waiting) = pending.withLock { pending in (ids.map(pending.ids.contains), pending.rows.count) }
        guard waiting < limits.most else {
            throw JournalUnavailable(reason: "the event id index cannot be written (\(waiting) ids waiting)")
        }
        // Each lookup reads on its own, after the check of `pending` above. GRDB's `read`
        // (a transaction, and `query_only` set and reset, all compiled per call) cost three
        // times the lookups of a one-event batch.
        let known = try lookups.inDatabase { db in
            let lookup = try db.cachedStatement(sql: "SELECT 1 FROM event_ids WHERE event_id = ?")
            return try zip(ids, inPending).map { id, inPending in
                if inPending { return true }
                var found = false
                try lookup.run([.text(id)]) { _ in found = true }
                return found
            }
        }
        var seen = Set<String>()
        let fresh = zip(ids, known).map { id, known in !known && seen.insert(id).inserted }
        let sequences: [Int64?]
        do {
            sequences = try journaling(fresh)
        } catch {
            // A failed commit may still have reached the journal (an I/O error is ambiguous):
            // look before the next batch.
            behind.store(true, ordering: .relaxed)
            throw error
        }
        let waitingNow = pending.withLock { pending in
            for (id, sequence) in zip(ids, sequences) {
                guard let sequence else { continue }
                // Rows journaled by someone else (another process) since the last batch: the
                // index would never see them.
                if sequence != pending.last + 1 { behind.store(true, ordering: .relaxed) }
                pending.last = sequence
                pending.ids.insert(id)
                pending.rows.append((sequence, id))
            }
            return pending.rows.count
        }
        if waitingNow >= limits.flushAt { writer.wake() }
        return sequences
    }

    /// Writes what `pending` holds into the index and moves `complete_through` over it.
    func write() throws {
        writing.lock()
        defer { writing.unlock() }
        // `pending` is read inside the index's transaction, as `forget` changes it: a prune
        // either comes first (its ids are gone from `pending`) or after (it deletes them).
        let (written, all) = try database.pool.write { db -> (through: Int64?, all: Bool) in
            let waiting = pending.withLock { $0.rows }
            guard let first = waiting.first else { return (nil, true) }
            // Only as far as the rows run without a gap (a gap: rows journaled by someone
            // else), and only from right before them, so that no id is ever in the index past
            // `complete_through`: then a journal that lost its newest rows (a power cut before
            // their fsync, a backup) shows as one behind the index at start, and the index is
            // rebuilt. Rows not written wait for a catch-up, which fills the gap from the journal.
            var count = 1
            while count < waiting.count, waiting[count].sequence == waiting[count - 1].sequence + 1 { count += 1 }
            let rows = waiting.prefix(count)
            try db.cachedStatement(sql: "UPDATE complete_through SET seq = ? WHERE seq = ?")
                .run([.integer(rows.last!.sequence), .integer(first.sequence - 1)])
            guard db.changesCount > 0 else { return (nil, false) }
            let insert = try db.cachedStatement(sql: Self.insertID)
            // In key order: the inserts walk the tree's leaves once, each written once.
            for id in rows.map(\.id).sorted() { try insert.run([.text(id)]) }
            return (rows.last!.sequence, count == waiting.count)
        }
        if !all { behind.store(true, ordering: .relaxed) }
        if let written { dropWaiting(through: written) }
    }

    /// Forgets the waiting rows the index now holds (written, or read from the journal by
    /// a catch-up). By sequence: a prune may have taken rows out of `pending` meanwhile.
    private func dropWaiting(through sequence: Int64) {
        pending.withLock { pending in
            let covered = pending.rows.prefix { $0.sequence <= sequence }
            for row in covered { pending.ids.remove(row.id) }
            pending.rows.removeFirst(covered.count)
        }
    }

    /// Runs `pruning`, which deletes journal rows and returns their event ids, and forgets those
    /// ids. The ids are forgotten only once the journal's deletion has committed: a crash
    /// between the two leaves them here, which only keeps treating those events' late
    /// retries as duplicates. (With `durability: normal` a power cut can keep the forgetting
    /// and lose the deletion: a late retry of those events is then journaled twice, never lost.)
    func forget(_ pruning: @escaping @Sendable () throws -> [String]) async throws {
        // What waits to be written goes in first, or it would come back after the forgetting.
        try write()
        // In a task of its own: GRDB interrupts the transaction of a cancelled task (a
        // shutdown's grace running out), and the journal's deletion, committed inside it,
        // would stay while the ids it forgets came back.
        try await Task { [self] in
            try await database.pool.write { db in
                let delete = try db.cachedStatement(sql: "DELETE FROM event_ids WHERE event_id = ?")
                let pruned = try pruning()
                for id in pruned { try delete.run([.text(id)]) }
                // Ids of pruned rows still waiting (the index could not be written, or a
                // catch-up read them) would be written after this and refuse those events for good.
                let gone = Set(pruned)
                pending.withLock { pending in
                    guard !pending.ids.isDisjoint(with: gone) else { return }
                    pending.rows.removeAll { gone.contains($0.id) }
                    pending.ids.subtract(gone)
                }
            }
        }.value
    }

    /// Puts the ids of the journal's rows past `complete_through` in `pending`, for the
    /// writer thread: what a batch needs after a failed commit or a gap when the index
    /// cannot be written. Caught up only into the index, every append failed while it could
    /// not be (a full disk on which the journal's WAL still had pages), though the journal
    /// took writes. The journal is read inside the index's transaction, which takes no space
    /// when nothing is written: a prune (`forget`) cannot delete rows between the read and
    /// `pending`. Rows past a hole (the journal's newest pruned) wait for a catch-up into the
    /// index once it can be written: `write` stops at the hole and asks for one.
    private func catchUpInMemory() throws {
        writing.lock()
        defer { writing.unlock() }
        try database.pool.write { db in
            let from = try Int64.fetchOne(db, sql: "SELECT seq FROM complete_through") ?? 0
            let rows = try journal.read { journal in
                var rows: [(sequence: Int64, id: String)] = []
                let cursor = try Row.fetchCursor(
                    journal, sql: "SELECT seq, event_id FROM journal WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [from, limits.most + 1])
                while let row = try cursor.next() { rows.append((row["seq"], row["event_id"])) }
                return rows
            }
            guard rows.count <= limits.most else {
                throw JournalUnavailable(reason: "the event id index cannot be written (\(rows.count) ids waiting)")
            }
            behind.store(false, ordering: .relaxed)
            pending.withLock { pending in
                // The journal's rows are every row past `complete_through`: what waited is
                // among them.
                pending.rows = rows
                pending.ids = Set(rows.map(\.id))
                pending.last = max(pending.last, rows.last?.sequence ?? from)
            }
        }
    }

    /// Adds the ids of the journal's rows past `complete_through`, a batch per transaction,
    /// at start (where the index may be rebuilt from the whole journal).
    /// The journal is read inside the index's transaction: a prune, which takes the index's
    /// writer first, cannot delete rows between the read and the insert.
    private func catchUp() throws {
        try write()
        while try database.pool.write({ db -> Bool in
            let from = try Int64.fetchOne(db, sql: "SELECT seq FROM complete_through") ?? 0
            let rows = try journal.read { journal in
                try Row.fetchAll(journal, sql: "SELECT seq, event_id FROM journal WHERE seq > ? ORDER BY seq LIMIT 10000", arguments: [from])
            }
            guard let last = rows.last?["seq"] as Int64? else {
                // Cleared inside the index's writer: a write that finds a gap after this
                // sets it again.
                behind.store(false, ordering: .relaxed)
                pending.withLock { $0.last = max($0.last, from) }
                dropWaiting(through: from)
                return false
            }
            let insert = try db.cachedStatement(sql: Self.insertID)
            for row in rows { try insert.run([.text(row["event_id"])]) }
            try db.execute(sql: "UPDATE complete_through SET seq = ?", arguments: [last])
            return true
        }) {}
    }

    /// Writes what is pending (what cannot be written is caught up from the journal at the
    /// next start) and closes the index.
    func close() throws {
        writer.stop()
        let written = Result { try write() }
        try lookups.close()
        try database.close()
        try written.get()
    }
}
