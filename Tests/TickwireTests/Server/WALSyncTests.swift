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
    /// dropped nothing: it is tried again for as long as the shortage lasts while its
    /// commits wait, and they are answered once it succeeds. (Failed at once, or made final,
    /// such commits stood anyway, and a final one left the journal refusing every webhook
    /// until a restart.) Stopping ends the wait.
    @Test func aSyncThatCouldNotOpenTheWALForWantOfADescriptorIsTriedAgain() async throws {
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("frames".utf8)))
        let full = Atomic<Bool>(true)
        let sync = WALSync(
            walPath: walPath, logger: .quiet,
            open: { path in
                guard !full.load(ordering: .relaxed) else {
                    errno = EMFILE
                    return -1
                }
                return open(path, O_RDONLY | O_CLOEXEC)
            })
        let grouped = GroupCommit<Int, Int>(name: "test", sync: sync) { items in items }
        let answer = Mutex<Result<[Int], any Error>?>(nil)
        grouped.submit([1]) { result in answer.withLock { $0 = result.map(Array.init) } }
        try await Task.sleep(for: .seconds(3))
        #expect(answer.withLock { $0 } == nil, "the commit waits while descriptors are short")
        #expect(sync.failure == nil)
        full.store(false, ordering: .relaxed)
        #expect(await eventually { answer.withLock { $0 } != nil })
        #expect(try answer.withLock { try $0?.get() } == [1])
        #expect(sync.failure == nil)
        #expect(sync.syncs.load(ordering: .relaxed) == 1)

        // Short again when the daemon stops: a shutdown whose grace ran out ends the wait,
        // with an error (the dispatchers' last saves wait on it), before anything is closed.
        try FileManager.default.moveItem(atPath: walPath, toPath: walPath + ".old")
        #expect(FileManager.default.createFile(atPath: walPath, contents: Data("new inode".utf8)))
        full.store(true, ordering: .relaxed)
        let last = Mutex<Result<[Int], any Error>?>(nil)
        grouped.submit([2]) { result in last.withLock { $0 = result.map(Array.init) } }
        try await Task.sleep(for: .milliseconds(300))
        #expect(last.withLock { $0 } == nil)
        sync.abandonResourceWait()
        #expect(await eventually { last.withLock { $0 } != nil }, "the wait ends without a stop")
        grouped.stop()
        sync.stop()
        let error = #expect(throws: JournalUnavailable.self) { try last.withLock { try $0?.get() } }
        #expect(error?.reason.contains("Too many open files") == true)
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
