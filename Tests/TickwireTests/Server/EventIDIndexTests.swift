import Foundation
import GRDB
import Testing
import TickwireCore
@testable import TickwireServer

/// The journal's dedup lives in a database of its own (`journal-ids.sqlite`), derived from
/// the journal: whatever happens to that file, a retry of a journaled event stays a no-op
/// and a new event is never refused.
@Suite("Event id index")
struct EventIDIndexTests {
    let directory: TemporaryDirectory
    var path: String { directory.path + "/journal.sqlite" }
    var indexPath: String { directory.path + "/journal-ids.sqlite" }

    init() throws {
        directory = try TemporaryDirectory()
    }

    func events(_ range: Range<Int>) -> [Event] {
        range.map { TestEvents.status(.delivered, message: "m\($0)") }
    }

    /// Stores `event` in the journal through another connection, as no commit of the
    /// journal's would: the index does not see it.
    static func journalBehindTheIndex(_ event: Event, db: Database) throws {
        try db.execute(
            sql: "INSERT INTO journal (event_id, org, channel, type, subject, received_at, event) VALUES (?, ?, ?, ?, ?, 0, ?)",
            arguments: [event.id, event.org, event.channel, event.type.rawValue, event.subject, Data(event.cloudEventBytes)])
    }

    /// Journals m0..<5, closes, lets `damage` alter the files, reopens, and retries m0..<7:
    /// only m5 and m6 may be stored.
    func retriesStayNoOps(after damage: () throws -> Void) async throws {
        do {
            let journal = try SQLiteJournal(path: path, durability: .full)
            try await journal.append(events(0..<5))
            try await journal.close()
        }
        try damage()
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await journal.append(events(0..<7))
        let stored = try await journal.entries(org: "acme", after: 0, limit: 100)
        #expect(stored.map(\.event.subject) == (0..<7).map { "m\($0)" })
        #expect(stored.map(\.sequence) == Array(1...7))
        try await journal.close()
    }

    @Test func theIndexIsAFileBesideTheJournal() async throws {
        try await retriesStayNoOps {
            #expect(FileManager.default.fileExists(atPath: indexPath))
            let ids = try DatabaseQueue(path: indexPath)
            #expect(try ids.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM event_ids") } == 5)
            try ids.close()
        }
    }

    @Test func aDeletedIndexIsRebuiltFromTheJournal() async throws {
        try await retriesStayNoOps {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: indexPath + suffix) }
        }
    }

    @Test func anUnreadableIndexIsRebuiltFromTheJournal() async throws {
        try await retriesStayNoOps {
            try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: indexPath))
        }
    }

    /// What a crash between the journal's commit and the index's leaves: the journal holds
    /// events the index does not, and the index says so by how far it is complete.
    @Test func anIndexBehindTheJournalCatchesUpBeforeItIsUsed() async throws {
        try await retriesStayNoOps {
            let ids = try DatabaseQueue(path: indexPath)
            try ids.write { db in
                let lost = [3, 4].map { TestEvents.status(.delivered, message: "m\($0)").id }
                try db.execute(sql: "DELETE FROM event_ids WHERE event_id IN (?, ?)", arguments: StatementArguments(lost))
                try db.execute(sql: "UPDATE complete_through SET seq = 3")
            }
            try ids.close()
        }
    }

    /// An index ahead of its journal (the journal restored from a backup, or its last
    /// transactions lost on power with `durability: normal`) holds ids the journal does not:
    /// it is rebuilt rather than trusted.
    @Test func anIndexAheadOfTheJournalIsRebuilt() async throws {
        try await retriesStayNoOps {
            let ids = try DatabaseQueue(path: indexPath)
            try ids.write { db in
                try db.execute(sql: "INSERT INTO event_ids (event_id) VALUES (?)", arguments: [TestEvents.status(.delivered, message: "m6").id])
                try db.execute(sql: "UPDATE complete_through SET seq = 6")
            }
            try ids.close()
        }
    }

    /// Has another connection make the journal refuse m2's commit once, and store a row the
    /// index has not seen (as a crash between the two commits would leave it); returns that
    /// row's event.
    func failACommitWithARowBehindTheIndex(_ journal: SQLiteJournal) async throws -> Event {
        let other = try DatabaseQueue(path: path)
        let sneaked = TestEvents.status(.delivered, message: "sneaked")
        try await other.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse BEFORE INSERT ON journal WHEN NEW.subject = 'm2'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """)
            try Self.journalBehindTheIndex(sneaked, db: db)
        }
        await #expect(throws: JournalUnavailable.self) { try await journal.append(events(2..<3)) }
        try await other.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try other.close()
        return sneaked
    }

    /// A batch whose journal commit fails leaves no id behind (its retry is stored), and the
    /// index looks at the journal again before the next batch.
    @Test func aFailedJournalCommitLeavesNoIDAndTheIndexCatchesUp() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await journal.append(events(0..<2))
        let sneaked = try await failACommitWithARowBehindTheIndex(journal)
        try await journal.append(events(2..<3) + [sneaked])
        try await journal.close()
        let stored = try DatabaseQueue(path: path)
        let subjects = try await stored.read { try String.fetchAll($0, sql: "SELECT subject FROM journal ORDER BY seq") }
        #expect(subjects == ["m0", "m1", "sneaked", "m2"], "m2 stored on retry, the sneaked row not twice")
        try stored.close()
    }

    /// A row journaled behind the index's back (what a catch-up in another process racing
    /// the daemon could leave) keeps `complete_through` from jumping over it: the next batch
    /// catches up on it first.
    @Test func rowsTheIndexHasNotSeenAreNeverSkipped() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await journal.append(events(0..<2))
        let sneaked = TestEvents.status(.delivered, message: "sneaked")
        let other = try DatabaseQueue(path: path)
        try await other.write { db in try Self.journalBehindTheIndex(sneaked, db: db) }
        try other.close()
        try await journal.append(events(2..<3))
        try await journal.append([sneaked] + events(0..<4))
        #expect(try await journal.count() == 5, "m0..m3 and the sneaked row, each once")
        try await journal.close()
    }

    /// The ids the index holds, read apart from the journal.
    func indexedIDs() throws -> Set<String> {
        let ids = try DatabaseQueue(path: indexPath)
        defer { try? ids.close() }
        return try Set(ids.read { try String.fetchAll($0, sql: "SELECT event_id FROM event_ids") })
    }

    /// Ids wait in memory and are written about once a second (`Limits.interval`, an hour
    /// here): a retry is a no-op while its id waits, and after it is written.
    @Test func retriesAreNoOpsWhileTheirIDsWaitAndOnceWritten() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600)))
        try await journal.append(events(0..<2))
        try await journal.append(events(0..<3))
        #expect(try await journal.count() == 3)
        #expect(try indexedIDs().isEmpty, "still waiting in memory")
        try journal.writeEventIDs()
        #expect(try indexedIDs() == Set(events(0..<3).map(\.id)))
        try await journal.append(events(0..<4))
        #expect(try await journal.count() == 4, "m0..m2 found in the index, m3 added")
        try await journal.close()
        #expect(try indexedIDs() == Set(events(0..<4).map(\.id)), "closing writes what waits")
    }

    /// No id goes into the index past `complete_through`: ids past a gap (rows journaled by
    /// another process) wait for the catch-up. Otherwise an index holding ids of rows a
    /// journal later lost (a power cut before their fsync, a backup) would not look ahead of
    /// it at start, and those events' retries would be refused.
    @Test func noIDIsWrittenPastWhatTheIndexIsCompleteThrough() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600)))
        try await journal.append(events(0..<2))
        try journal.writeEventIDs()
        let sneaked = TestEvents.status(.delivered, message: "sneaked")
        let other = try DatabaseQueue(path: path)
        try await other.write { db in try Self.journalBehindTheIndex(sneaked, db: db) }
        try other.close()
        try await journal.append(events(2..<3))
        try journal.writeEventIDs()
        #expect(try indexedIDs() == Set(events(0..<2).map(\.id)), "m2 is past the sneaked row the index lacks")
        let ids = try DatabaseQueue(path: indexPath)
        let complete = try await ids.read { try Int64.fetchOne($0, sql: "SELECT seq FROM complete_through") }
        #expect(complete == 2)
        try ids.close()
        try await journal.append([sneaked] + events(0..<4))
        #expect(try await journal.count() == 5, "m0..m3 and the sneaked row, each once")
        try await journal.close()
        #expect(try indexedIDs() == Set((events(0..<4) + [sneaked]).map(\.id)))
    }

    @Test func manyWaitingIDsAreWrittenAtOnce() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600), flushAt: 3))
        try await journal.append(events(0..<3))
        let deadline = ContinuousClock.now + .seconds(10)
        while try indexedIDs().count < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try indexedIDs().count == 3)
        try await journal.close()
    }

    /// An index that cannot be written keeps its ids in memory (retries stay no-ops) up to
    /// `Limits.most`; past that appends fail (503, the provider retries) rather than let
    /// duplicates through later.
    @Test func anIndexThatCannotBeWrittenKeepsItsIDsThenRefusesAppends() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600), most: 3))
        // Refused before anything is appended: the index's thread writes once as it starts,
        // and on a busy machine that turn can come after the append.
        let ids = try DatabaseQueue(path: indexPath)
        try await ids.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE UPDATE ON complete_through BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        }
        try await journal.append(events(0..<2))
        #expect(throws: DatabaseError.self) { try journal.writeEventIDs() }
        try await journal.append(events(0..<3))
        #expect(try await journal.count() == 3, "m0 and m1 still waiting: not stored twice")
        await #expect(throws: JournalUnavailable.self) { try await journal.append(events(3..<4)) }
        try await ids.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try ids.close()
        try journal.writeEventIDs()
        try await journal.append(events(0..<4))
        #expect(try await journal.count() == 4, "m3 stored once the ids were written")
        try await journal.close()
    }

    /// A catch-up (after a failed commit, or rows journaled behind the index's back) reads
    /// the journal into memory: it wrote the index on the commit thread, so while the index
    /// could not be written (a full disk the journal's WAL still had pages on) every append
    /// failed after one failed commit, though the journal took writes.
    @Test func aCatchUpNeedsNoWriteToTheIndex() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600)))
        let ids = try DatabaseQueue(path: indexPath)
        try await ids.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE UPDATE ON complete_through BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        }
        try await journal.append(events(0..<2))
        let sneaked = try await failACommitWithARowBehindTheIndex(journal)
        try await journal.append(events(2..<3))
        try await journal.append(events(0..<4) + [sneaked])
        #expect(try await journal.count() == 5, "m0..m3 and the sneaked row, each once")
        #expect(try indexedIDs().isEmpty, "nothing written to the index yet")
        try await ids.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try ids.close()
        try await journal.close()
        #expect(try indexedIDs() == Set((events(0..<4) + [sneaked]).map(\.id)), "closing writes what waits")
    }

    /// An index rebuilt from a journal whose newest rows were pruned is complete through
    /// the last row, while new rows follow the highest sequence ever handed out: the hole
    /// between is stepped over by a catch-up into the index, and new ids are written.
    @Test func newIDsAreWrittenPastSequencesThePruneLeftUnused() async throws {
        do {
            let journal = try SQLiteJournal(path: path, durability: .full)
            try await journal.append(events(0..<5))
            try await journal.close()
        }
        let other = try DatabaseQueue(path: path)
        try await other.write { db in try db.execute(sql: "DELETE FROM journal WHERE seq > 3") }
        try other.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: indexPath + suffix) }
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600)))
        try await journal.append(events(5..<6))
        try journal.writeEventIDs()
        try await journal.append(events(6..<7))
        try journal.writeEventIDs()
        #expect(try indexedIDs() == Set((events(0..<3) + events(5..<7)).map(\.id)))
        try await journal.close()
    }

    /// Ids still waiting in memory when their rows are pruned (here behind a gap the index
    /// cannot step over yet) are forgotten with them: kept, they would make those ids
    /// duplicates for as long as the daemon runs.
    @Test func prunedIDsWaitingInMemoryAreForgotten() async throws {
        let journal = try SQLiteJournal(path: path, durability: .full, eventIDLimits: .init(interval: .seconds(3600)))
        try await journal.append(events(0..<2))
        try journal.writeEventIDs()
        let other = try DatabaseQueue(path: path)
        try await other.write { db in try Self.journalBehindTheIndex(TestEvents.status(.delivered, message: "sneaked"), db: db) }
        try other.close()
        try await journal.append(events(2..<4))
        try journal.writeEventIDs()
        #expect(try indexedIDs() == Set(events(0..<2).map(\.id)), "m2 and m3 wait behind the sneaked row")
        try await journal.setCursor(5, subscription: "acme/a")
        #expect(try await journal.prune(olderThan: .zero, batchSize: 100) == 5)
        try await journal.append(events(2..<4))
        #expect(try await journal.count() == 2, "m2 and m3 are new events again")
        try await journal.close()
    }

    /// A journal replaced by another (restored, or deleted and recreated) must not inherit
    /// the old journal's ids: its own events would be refused as duplicates.
    @Test func anIndexOfAnotherJournalIsNotUsed() async throws {
        do {
            let journal = try SQLiteJournal(path: path, durability: .full)
            try await journal.append(events(0..<5))
            try await journal.close()
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await journal.append(events(3..<6))
        #expect(try await journal.count() == 3)
        try await journal.close()
    }

    /// With `durability: full` the deletion is synced before the index forgets (a power cut
    /// must not keep the forgetting without the deletion).
    @Test(arguments: [Durability.full, .normal])
    func prunedEventsAreForgotten(durability: Durability) async throws {
        let journal = try SQLiteJournal(path: path, durability: durability)
        try await journal.append(events(0..<4))
        try await journal.setCursor(4, subscription: "acme/a")
        let syncs = journal.stats.syncs
        #expect(try await journal.prune(olderThan: .zero, batchSize: 2) == 2)
        #expect(journal.stats.syncs == (durability == .full ? syncs + 1 : 0))
        let ids = try DatabaseQueue(path: indexPath)
        let left = try await ids.read { try String.fetchAll($0, sql: "SELECT event_id FROM event_ids") }
        #expect(Set(left) == Set(events(2..<4).map(\.id)))
        try ids.close()
        // As when the id was a unique index of the journal: once an event is pruned, the
        // same id is a new event again.
        try await journal.append(events(0..<4))
        #expect(try await journal.count() == 4)
        try await journal.close()
    }

    /// A journal from before the index moved out (v3: `event_id` UNIQUE in the table) is
    /// rebuilt without the constraint; its ids seed the index, and sequences continue past
    /// every sequence it ever handed out, pruned ones included (cursors may be past them).
    @Test func aV3JournalIsMigrated() async throws {
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteJournal.migrator.migrate(old, upTo: "v3-retry-queue")
            try await old.write { db in
                for (index, event) in events(0..<5).enumerated() {
                    try db.execute(
                        sql: """
                            INSERT INTO journal (seq, event_id, org, channel, type, subject, received_at, event)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [index + 1, event.id, event.org, event.channel, event.type.rawValue, event.subject, 0, Data(event.cloudEventBytes)])
                }
                try db.execute(sql: "DELETE FROM journal WHERE seq > 3")
                try db.execute(sql: "INSERT INTO cursors (subscription, seq, updated_at) VALUES ('acme/a', 5, 0)")
            }
            try old.close()
        }
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await journal.append(events(0..<6))
        let stored = try await journal.entries(org: "acme", after: 0, limit: 100)
        #expect(stored.map(\.event.subject) == ["m0", "m1", "m2", "m3", "m4", "m5"])
        #expect(stored.map(\.sequence) == [1, 2, 3, 6, 7, 8])
        #expect(try await journal.entries(org: "acme", after: 5, limit: 100).map(\.event.subject) == ["m3", "m4", "m5"])
        try await journal.close()
        let reopened = try DatabaseQueue(path: path)
        let indexes = try await reopened.read { db in
            try Row.fetchAll(db, sql: "PRAGMA index_list(journal)").map { ($0["name"] as String, $0["unique"] as Bool) }
        }
        #expect(indexes.map(\.0).sorted() == ["journal_body", "journal_org_seq"])
        #expect(indexes.allSatisfy { !$0.1 })
        try reopened.close()
    }
}
