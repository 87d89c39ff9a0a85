import Foundation
import GRDB
import Synchronization
import Testing
import TickwireCore
@testable import TickwireSinks

/// Checkpoints run on the checkpointer's own connection, not inside a commit.
@Suite("WAL checkpoints off the commit path", .timeLimit(.minutes(1)))
struct WALCheckpointerTests {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)") }
        return migrator
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
    }

    @Test(arguments: [Durability.full, .normal])
    func committedPagesReachTheDatabaseFileWithoutTheWritersCheckpoint(durability: Durability) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/test.sqlite"
        let database = try SQLiteDatabase.open(path: path, durability: durability, migrator: Self.migrator)
        let writerThreshold = try await database.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        #expect(writerThreshold == WALCheckpointer.backstopPages)

        // ~2 MB in 100 commits: about 500 pages, far below the writer's threshold, so only the
        // checkpointer can move them into the database file.
        let body = Data(repeating: 0x61, count: 1000)
        for batch in 0..<100 {
            try await database.pool.write { db in
                for row in 0..<20 { try db.execute(sql: "INSERT INTO rows (id, body) VALUES (?, ?)", arguments: [batch * 20 + row, body]) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while Self.fileSize(path) < 2_000_000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Self.fileSize(path) >= 2_000_000, "the database file holds the committed rows")
        #expect(database.checkpointer.checkpoints.load(ordering: .relaxed) > 0)

        // A reader connection open at close: GRDB closes it after the writer, so without the
        // checkpointer's final TRUNCATE the WAL would stay behind, full.
        #expect(try await database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rows") } == 2000)
        database.checkpointer.stop()
        database.checkpointer.stop()  // a second stop is a no-op
        try database.close()
        #expect(Self.fileSize(path + "-wal") == 0, "the WAL is left empty (or gone)")
        let reopened = try SQLiteDatabase.open(path: path, durability: durability, migrator: Self.migrator)
        #expect(try await reopened.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rows") } == 2000)
        try reopened.close()
    }

    /// A connection that keeps a read transaction open stops every checkpoint at its
    /// snapshot, and the WAL grows on the disk: said, and said again when it ends.
    @Test func aReaderThatHoldsCheckpointsBackIsReported() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/held.sqlite"
        let writer = try DatabasePool(path: path)
        try await writer.write { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)") }
        // An operator's shell in BEGIN, having read once. On a thread of its own: held on a
        // thread of Swift's pool, it starved every other test of half the pool.
        let shell = try DatabaseQueue(path: path)
        let inTransaction = Atomic<Bool>(false)
        let end = DispatchSemaphore(value: 0)
        let ended = Atomic<Bool>(false)
        Thread {
            try? shell.inDatabase { db in
                try db.execute(sql: "BEGIN")
                _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rows")
                inTransaction.store(true, ordering: .relaxed)
                end.wait()
                try db.execute(sql: "COMMIT")
            }
            ended.store(true, ordering: .relaxed)
        }.start()
        #expect(await eventually { inTransaction.load(ordering: .relaxed) })
        let log = LogRecorder()
        let checkpointer = try WALCheckpointer(
            path: path, configuration: Configuration(), synchronous: "NORMAL", logger: log.logger(), heldBackWarning: .milliseconds(200))
        let body = Data(repeating: 0x61, count: 1000)
        func writeMore(_ round: Int) async throws {
            try await writer.write { db in
                for row in 0..<20 { try db.execute(sql: "INSERT INTO rows (id, body) VALUES (?, ?)", arguments: [round * 20 + row, body]) }
            }
        }
        var round = 0
        let warned = await eventually(timeout: .seconds(20)) {
            round += 1
            try? await writeMore(round)
            return log.records.contains { $0.level == .warning && $0.message.contains("held back by a reader") }
        }
        #expect(warned, "\(log.text)")
        let warning = log.records.first { $0.message.contains("held back by a reader") }
        #expect(warning?.metadata["database"] == path && Int(warning?.metadata["frames_not_copied"] ?? "") ?? 0 > 0)
        end.signal()
        #expect(await eventually { ended.load(ordering: .relaxed) })
        try await writeMore(round + 1)
        #expect(await eventually(timeout: .seconds(10)) { log.records.contains { $0.message.contains("copy again") } }, "\(log.text)")
        checkpointer.stop()
        try writer.close()
        try shell.close()
    }

    @Test func anIdleDatabaseIsLeftAlone() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase.open(path: directory.path + "/idle.sqlite", durability: .full, migrator: Self.migrator)
        // The migration's pages are copied first, whenever the thread gets to them on a
        // loaded machine: wait until the count holds still for two idle intervals.
        var before = database.checkpointer.checkpoints.load(ordering: .relaxed)
        for _ in 0..<50 {
            try await Task.sleep(for: WALCheckpointer.idleInterval * 2)
            let now = database.checkpointer.checkpoints.load(ordering: .relaxed)
            if now == before && now > 0 { break }
            before = now
        }
        try await Task.sleep(for: WALCheckpointer.idleInterval * 2)
        #expect(database.checkpointer.checkpoints.load(ordering: .relaxed) == before, "nothing to copy, nothing counted")
        try database.close()
    }

    /// A database a newer Tickwire migrated is refused with its path, not opened to fail
    /// later on a statement the newer schema does not allow.
    @Test func aDatabaseFromANewerVersionIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/newer.sqlite"
        var newer = Self.migrator
        newer.registerMigration("v2-from-the-future") { db in try db.execute(sql: "ALTER TABLE rows ADD COLUMN more TEXT") }
        try SQLiteDatabase.open(path: path, durability: .normal, migrator: newer).close()
        #expect(throws: SQLiteDatabase.OpenError.self) { try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator) }
        do {
            _ = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
        } catch {
            #expect("\(error)".contains(path) && "\(error)".contains("newer version"))
        }
        // The same version opens it as before.
        try SQLiteDatabase.open(path: path, durability: .normal, migrator: newer).close()
    }

    @Test func aDatabaseThatCannotBeOpenedIsNamed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/a-directory.sqlite"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do {
            _ = try SQLiteDatabase.open(path: path, durability: .normal, migrator: Self.migrator)
            Issue.record("a directory opened as a database")
        } catch {
            #expect("\(error)".contains(path), "\(error)")
        }
    }

    /// What Tickwire creates holds raw webhooks and phone numbers: this user's only.
    @Test func newFilesAndDirectoriesAreThisUsersOnly() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/new/dir/private.sqlite"
        try SQLiteDatabase.open(path: path, durability: .full, migrator: Self.migrator).close()
        func mode(_ path: String) throws -> Int {
            try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        #expect(try mode(directory.path + "/new") == 0o700)
        #expect(try mode(directory.path + "/new/dir") == 0o700)
        #expect(try mode(path) == 0o600)
    }
}
