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
/// The index never gets ahead of the journal: a batch's ids are inserted in a transaction
/// that commits only after the journal's own commit. It may fall behind (a crash between the
/// two commits, or the index's commit failing): it records up to which journal sequence it
/// is complete, and catches up from the journal's rows past that before it is used again. A
/// missing or unreadable index file, or one that is not this journal's, is rebuilt from the
/// journal at start.
final class EventIDIndex: Sendable {
    private let database: SQLiteDatabase
    /// The journal, read to catch up.
    private let journal: DatabasePool
    /// Set when the index may lack rows the journal has (a failed commit, or rows journaled
    /// by someone else): catch up before the next batch.
    private let behind = Atomic<Bool>(false)

    /// The index of the journal at `journalPath`, opened (created, or recreated if SQLite
    /// cannot open it) and caught up with `journal`. Damage SQLite only finds later (a bad page
    /// inside) fails appends until the file is deleted; it is rebuilt at the next start.
    init(journalPath: String, journal: DatabasePool) throws {
        let path = Self.path(journalPath: journalPath)
        do {
            database = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            // Derived data: start over rather than refuse to start.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            database = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
        }
        self.journal = journal
        // Start over from an index that is not this journal's as it is now: one built from
        // another journal (the file was replaced), or one ahead of it, holding ids of
        // transactions the journal does not have (restored from a backup, or lost on power
        // with `durability: normal`, where neither file is synced at commit). Such an index
        // would refuse those events' retries, and hand out their sequences' ids again.
        try database.pool.write { db in
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
        }
        try catchUp()
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
        if behind.load(ordering: .relaxed) { try catchUp() }
        var sequences: [Int64?] = []
        var journalCommitted = false
        do {
            try database.pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    let insert = try db.cachedStatement(sql: Self.insertID)
                    let fresh = try ids.map { id in
                        try insert.run([.text(id)])
                        return db.changesCount > 0
                    }
                    sequences = try journaling(fresh)
                    journalCommitted = true
                    let stored = sequences.compactMap { $0 }
                    if let first = stored.first, let last = stored.last {
                        // Only ever over rows the index holds: from right before this batch.
                        // Otherwise rows were journaled that it has not seen (a catch-up still
                        // going on in another process, say): look before the next batch.
                        try db.cachedStatement(sql: "UPDATE complete_through SET seq = ? WHERE seq = ?")
                            .run([.integer(last), .integer(first - 1)])
                        if db.changesCount == 0 { behind.store(true, ordering: .relaxed) }
                    }
                    return .commit
                }
            }
        } catch {
            // The index is rolled back, and behind the journal either way: the journal's commit
            // failed (and an fsync error is ambiguous: it may have reached the disk), or it
            // succeeded and only the index's failed. Look before the next batch.
            behind.store(true, ordering: .relaxed)
            // Once the journal has committed, the batch is stored.
            guard journalCommitted else { throw error }
            return sequences
        }
        return sequences
    }

    /// Runs `pruning`, which deletes journal rows and returns their event ids, and forgets those
    /// ids. The ids are forgotten only once the journal's deletion has committed: a crash
    /// between the two leaves them here, which only keeps treating those events' late
    /// retries as duplicates. (With `durability: normal` a power cut can keep the forgetting
    /// and lose the deletion: a late retry of those events is then journaled twice, never lost.)
    func forget(_ pruning: @Sendable () throws -> [String]) async throws {
        try await database.pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let delete = try db.cachedStatement(sql: "DELETE FROM event_ids WHERE event_id = ?")
                for id in try pruning() { try delete.run([.text(id)]) }
                return .commit
            }
        }
    }

    /// Adds the ids of the journal's rows past `complete_through`, a batch per transaction.
    /// The journal is read inside the index's transaction: a prune, which takes the index's
    /// writer first, cannot delete rows between the read and the insert.
    private func catchUp() throws {
        while try database.pool.write({ db -> Bool in
            let from = try Int64.fetchOne(db, sql: "SELECT seq FROM complete_through") ?? 0
            let rows = try journal.read { journal in
                try Row.fetchAll(journal, sql: "SELECT seq, event_id FROM journal WHERE seq > ? ORDER BY seq LIMIT 10000", arguments: [from])
            }
            guard let last = rows.last?["seq"] as Int64? else { return false }
            let insert = try db.cachedStatement(sql: Self.insertID)
            for row in rows { try insert.run([.text(row["event_id"])]) }
            try db.execute(sql: "UPDATE complete_through SET seq = ?", arguments: [last])
            return true
        }) {}
        behind.store(false, ordering: .relaxed)
    }

    func close() throws {
        try database.close()
    }
}
