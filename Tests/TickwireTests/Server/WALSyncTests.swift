import Foundation
import Synchronization
import Testing
import TickwireCore
@testable import TickwireServer

/// `durability: full`: a commit is answered only after an fsync of the WAL, done on a
/// thread of its own while the next batch is written.
@Suite("WAL sync", .timeLimit(.minutes(1)))
struct WALSyncTests {
    let directory: TemporaryDirectory
    var walPath: String { directory.path + "/journal.sqlite-wal" }

    init() throws {
        directory = try TemporaryDirectory()
    }

    func synced(_ sync: WALSync) async -> (any Error)? {
        await withCheckedContinuation { continuation in sync.afterSync { continuation.resume(returning: $0) } }
    }

    @Test func waitersShareSyncs() async throws {
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("frames".utf8)))
        let sync = WALSync(walPath: walPath)
        #expect(await synced(sync) == nil)
        #expect(sync.syncs.load(ordering: .relaxed) == 1)
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 { group.addTask { await synced(sync) == nil } }
            for await succeeded in group { #expect(succeeded) }
        }
        let syncs = sync.syncs.load(ordering: .relaxed)
        #expect(syncs > 1)
        #expect(syncs < 201, "200 waiters took \(syncs - 1) fsyncs: those arriving during one must share the next")
        sync.stop()
    }

    /// Group commit tells its callers the sync's outcome, not the commit's: a commit whose
    /// fsync failed is answered as a failure (503, the provider retries). And a failed sync
    /// is final, even once the file could be synced again.
    @Test func aFailedSyncFailsTheCommitAndEveryLaterOne() async throws {
        let sync = WALSync(walPath: walPath)
        let grouped = GroupCommit<Int, Int>(name: "test", sync: sync) { items in items }
        func submit(_ items: [Int]) async throws -> [Int] {
            try await withCheckedThrowingContinuation { continuation in
                grouped.submit(items) { continuation.resume(with: $0.map(Array.init)) }
            }
        }
        let error = await #expect(throws: JournalUnavailable.self) { try await submit([1]) }
        #expect(error?.reason.contains(walPath) == true)
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("frames".utf8)))
        await #expect(throws: JournalUnavailable.self) { try await submit([2]) }
        #expect(sync.syncs.load(ordering: .relaxed) == 0)
        grouped.stop()
        sync.stop()
    }

    /// A sync that could not open the WAL for want of a descriptor flushed nothing and
    /// dropped nothing: it is tried again while its commits wait, and they are answered
    /// once it succeeds. (Latched at once, one exhausted descriptor table left the journal
    /// refusing every webhook until a restart.) Past the retry window it is final.
    @Test func aSyncThatCouldNotOpenTheWALForWantOfADescriptorIsTriedAgain() async throws {
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("frames".utf8)))
        let refusals = Atomic<Int>(3)
        let sync = WALSync(
            walPath: walPath, transientRetry: .milliseconds(500),
            open: { path in
                guard refusals.subtract(1, ordering: .relaxed).newValue < 0 else {
                    errno = EMFILE
                    return -1
                }
                return open(path, O_RDONLY | O_CLOEXEC)
            })
        let grouped = GroupCommit<Int, Int>(name: "test", sync: sync) { items in items }
        func submit(_ items: [Int]) async throws -> [Int] {
            try await withCheckedThrowingContinuation { continuation in
                grouped.submit(items) { continuation.resume(with: $0.map(Array.init)) }
            }
        }
        #expect(try await submit([1]) == [1])
        #expect(sync.failure == nil)
        #expect(sync.syncs.load(ordering: .relaxed) == 1)
        grouped.stop()
        sync.stop()

        // A descriptor table that stays full: final once the window has passed.
        let full = WALSync(
            walPath: walPath + ".other", transientRetry: .milliseconds(200),
            open: { _ in
                errno = EMFILE
                return -1
            })
        #expect(FileManager.default.createFile(atPath: walPath + ".other", contents: Data("frames".utf8)))
        let started = ContinuousClock.now
        let error = await #expect(throws: JournalUnavailable.self) { try await full.synced() }
        #expect(error?.reason.contains("Too many open files") == true)
        #expect(ContinuousClock.now - started >= .milliseconds(200))
        #expect(full.failure != nil)
        full.stop()
    }

    /// After a failed sync nothing more is committed: it could not be answered, and the
    /// dispatchers would deliver what providers were told failed.
    @Test func aJournalWhoseSyncFailedCommitsNothingMore() async throws {
        let path = directory.path + "/journal.sqlite"
        let journal = try SQLiteJournal(path: path, durability: .full)
        try await journal.append([TestEvents.status(.sent, message: "m0")])
        // The WAL's path no longer names a file: the next sync fails.
        try FileManager.default.moveItem(atPath: path + "-wal", toPath: path + "-wal.moved")
        await #expect(throws: JournalUnavailable.self) { try await journal.append([TestEvents.status(.sent, message: "m1")]) }
        let commits = journal.stats.commits.load(ordering: .relaxed)
        await #expect(throws: JournalUnavailable.self) { try await journal.append([TestEvents.status(.sent, message: "m2")]) }
        await #expect(throws: JournalUnavailable.self) { try await journal.setCursor(1, subscription: "s") }
        #expect(journal.stats.commits.load(ordering: .relaxed) == commits)
        try FileManager.default.moveItem(atPath: path + "-wal.moved", toPath: path + "-wal")
        try await journal.close()
    }

    /// Stopping group commit returns once the batch in hand is committed: the databases are
    /// closed next.
    @Test func stoppingWaitsForTheCommitInHand() async throws {
        let committed = Atomic<Bool>(false)
        let grouped = GroupCommit<Int, Int>(name: "test") { items in
            Thread.sleep(forTimeInterval: 0.2)
            committed.store(true, ordering: .relaxed)
            return items
        }
        grouped.submit([1]) { _ in }
        try await Task.sleep(for: .milliseconds(50))
        grouped.stop()
        let done = committed.load(ordering: .relaxed)
        #expect(done)
    }

    @Test func commitsAreAnsweredAfterTheirSync() async throws {
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("frames".utf8)))
        let sync = WALSync(walPath: walPath)
        let grouped = GroupCommit<Int, Int>(name: "test", sync: sync) { items in items.map { $0 * 10 } }
        let outcomes = try await withCheckedThrowingContinuation { continuation in
            grouped.submit([1, 2]) { result in
                // Told on the sync thread, after the fsync that covers the commit.
                #expect(sync.syncs.load(ordering: .relaxed) == 1)
                continuation.resume(with: result.map(Array.init))
            }
        }
        #expect(outcomes == [10, 20])
        grouped.stop()
        sync.stop()
    }

    /// SQLite deletes the WAL when its last connection closes and makes a new one on the
    /// next: the sync follows the path, not the first file.
    @Test func aWALMadeAnewIsOpenedAnew() async throws {
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("first".utf8)))
        let sync = WALSync(walPath: walPath)
        #expect(await synced(sync) == nil)
        // Made beside and moved over the old one: a new inode at the same path, the old one
        // still open here.
        #expect(FileManager.default.createFile(atPath: walPath + ".new", contents: Data("second".utf8)))
        #expect(rename(walPath + ".new", walPath) == 0)
        #expect(await synced(sync) == nil)
        #expect(sync.syncs.load(ordering: .relaxed) == 2)
        // The descriptor synced is the new file's: none is left on the deleted one.
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)
        }
        #expect(open.contains(walPath))
        #expect(!open.contains(walPath + " (deleted)"))
        sync.stop()
    }

    @Test func afterStopTheCallerSyncs() async throws {
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("frames".utf8)))
        let sync = WALSync(walPath: walPath)
        sync.stop()
        let ran = Mutex(false)
        sync.afterSync { error in
            #expect(error == nil)
            ran.withLock { $0 = true }
        }
        #expect(ran.withLock { $0 }, "after stop, the work runs before afterSync returns")
        #expect(sync.syncs.load(ordering: .relaxed) == 1)
    }
}
