import Foundation
import Logging
import Synchronization
import TickwireCore
import TickwireSinks

#if canImport(Glibc)
import Glibc
#endif

/// Makes the journal's commits durable on a thread of its own, so that the commit thread
/// writes the next batch while the disk flushes the last one.
///
/// With `durability: full` the journal's connections run with `synchronous=NORMAL`: SQLite
/// writes a commit's WAL frames and returns without an fsync. Work handed to `afterSync`
/// runs once an `fdatasync` of the WAL file that started after the hand-over has returned,
/// and one fdatasync covers every commit written before it (Linux flushes the file, not a
/// descriptor), so the commits written while the disk is busy share the next one. Before,
/// each commit waited for its own fsync and nothing was written meanwhile
/// (bench/RESULTS.md, ninth session).
///
/// Checkpoints are unchanged: with `NORMAL` SQLite syncs the WAL before copying it into the
/// database and the database before the WAL is reused, so nothing a checkpoint copies or a
/// WAL restart overwrites depends on this thread.
///
/// A failed fdatasync is final: Linux may drop the pages it could not write and report
/// success to the next call, so a later sync proves nothing about the commits before it.
/// Every later sync fails with the first error, the journal answers 503, and the operator
/// reboots before restarting the daemon (the README's failure table: the page cache may still
/// hold what the disk never took). A sync that could not start for want of a resource (no
/// descriptor left to open the WAL with: EMFILE, ENFILE, ENOMEM) flushed and dropped
/// nothing: it is tried again, with a pause growing to a second, for as long as the shortage
/// lasts, and its commits wait, as on a disk that hangs (their webhooks are answered 503
/// after `server.idle_timeout`). Failed instead, such a commit stood anyway and became
/// durable later, unseen by dispatchers, its caller told it failed.
final class WALSync: Sendable {
    typealias Work = @Sendable ((any Error)?) -> Void

    private let thread: BatchThread<Work>
    /// Held for a whole fdatasync.
    private let wal: Mutex<WALFile>
    /// The first failure; once set, nothing is synced any more. Apart from `wal`, so that
    /// the commit thread's check never waits for a sync in progress.
    private let failed = Mutex<(any Error)?>(nil)
    /// fdatasync calls that returned, for metrics and tests.
    let syncs = Atomic<Int>(0)
    private let onSync: (@Sendable (Duration) -> Void)?
    /// Set by `stop`: a sync still waiting for a resource then fails, or closing would wait
    /// for it for ever.
    private let stopping = Atomic<Bool>(false)
    private let logger: Logger

    /// Syncs the WAL file at `walPath` (the database's path + `-wal`); `onSync` is told how
    /// long each fdatasync took (for metrics); `open` opens the WAL (tests: a full descriptor
    /// table).
    init(
        walPath: String, onSync: (@Sendable (Duration) -> Void)? = nil, logger: Logger = Logger(label: "tickwire.journal"),
        open: @escaping @Sendable (String) -> Int32 = { Glibc.open($0, O_RDONLY | O_CLOEXEC) }
    ) {
        wal = Mutex(WALFile(path: walPath, open: open))
        self.onSync = onSync
        self.logger = logger
        thread = BatchThread(name: "tw-wal-sync")
        thread.start { [self] batch in
            let error = Result { try syncNow() }.error
            for work in batch { work(error) }
        }
    }

    /// Runs `work` after the next fdatasync of the WAL, with its error if it failed. Once
    /// stopped, syncs on the calling thread.
    func afterSync(_ work: @escaping Work) {
        guard thread.submit(work) else { return work(Result { try syncNow() }.error) }
    }

    /// The failure that ended syncing, if one did: nothing more may be committed, since
    /// nothing more can be answered (and the dispatchers would deliver what providers were
    /// told failed).
    var failure: (any Error)? {
        failed.withLock { $0 }
    }

    /// Makes a sync waiting for descriptors or memory fail now, and later ones at once: the
    /// daemon is stopping, and what waits on it (a dispatcher's last save, a prune) would
    /// keep it from ever stopping.
    func abandonResourceWait() {
        stopping.store(true, ordering: .relaxed)
    }

    /// How long the sync in hand has been running; nil between syncs.
    var busyFor: Duration? { thread.busyFor }

    /// Waits for the next fdatasync of the WAL; throws its error.
    func synced() async throws {
        let error = await withCheckedContinuation { continuation in
            afterSync { continuation.resume(returning: $0) }
        }
        if let error { throw error }
    }

    /// Ends the thread once what is pending is synced; later work syncs on its caller's thread.
    func stop() {
        abandonResourceWait()
        guard thread.stop() else { return }
        wal.withLock { $0.close() }
    }

    /// Syncs on the calling thread, for a caller that must not go on before its commit is
    /// on disk (a prune, before the id index forgets what it deleted).
    func syncNow() throws {
        let took = try wal.withLock { wal in
            if let failure { throw failure }
            var waitingSince: ContinuousClock.Instant?
            var pause = Duration.milliseconds(50)
            while true {
                do {
                    let start = ContinuousClock.now
                    try wal.sync()
                    if let waitingSince {
                        logger.notice(
                            "the journal's WAL is synced again: the webhooks that waited are answered",
                            metadata: ["waited": "\(Int((ContinuousClock.now - waitingSince).components.seconds))s"])
                    }
                    return ContinuousClock.now - start
                } catch let error as WALSyncFailure where !error.isFinal && !stopping.load(ordering: .relaxed) {
                    if waitingSince == nil {
                        waitingSince = .now
                        logger.error(
                            "the journal's WAL cannot be synced for want of a resource; trying again until it can, and webhooks wait (answered 503 after server.idle_timeout)",
                            metadata: ["error": "\(error.reason)"])
                    }
                    Thread.sleep(forTimeInterval: pause.secondsValue)
                    pause = min(pause * 2, .seconds(1))
                } catch {
                    let final = (error as? WALSyncFailure)?.unavailable ?? JournalUnavailable(reason: "\(error)")
                    failed.withLock { $0 = final }
                    throw final
                }
            }
        }
        syncs.add(1, ordering: .relaxed)
        onSync?(took)
    }
}

/// The WAL file, opened for fdatasync only. SQLite keeps the WAL while any connection is
/// open, but it deletes it when the last one closes; a file at the path that is not the one
/// open here (another inode) is opened anew.
private struct WALFile {
    let path: String
    private let open: @Sendable (String) -> Int32
    private var descriptor: Int32 = -1
    private var inode: ino_t = 0

    init(path: String, open: @escaping @Sendable (String) -> Int32) {
        self.path = path
        self.open = open
    }

    mutating func sync() throws {
        var status = stat()
        guard stat(path, &status) == 0 else { throw failure("stat", errno) }
        if descriptor < 0 || status.st_ino != inode {
            close()
            let opened = open(path)
            guard opened >= 0 else { throw failure("open", errno) }
            do {
                guard fstat(opened, &status) == 0 else { throw failure("fstat", errno) }
                // A new WAL's directory entry must reach the disk too, or the commits in it
                // could vanish with it on power loss. (The data directory's own entry is
                // synced at start: `DataDirectoryLock`.) Kept open only once that is done,
                // so that a sync that could not do it does it again.
                do {
                    try PrivateFiles.syncDirectory((path as NSString).deletingLastPathComponent)
                } catch let error as SystemCallError {
                    // Only its open: an fsync that failed is final whatever its errno.
                    throw WALSyncFailure(reason: "\(error)", isFinal: error.operation != "open directory" || !Self.isTransient(error.code))
                }
            } catch {
                Glibc.close(opened)
                throw error
            }
            descriptor = opened
            inode = status.st_ino
        }
        guard fdatasync(descriptor) == 0 else {
            throw WALSyncFailure(reason: "fdatasync \(path) failed: \(String(cString: strerror(errno)))", isFinal: true)
        }
    }

    mutating func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    /// Out of descriptors or memory: the call never reached the disk.
    private static func isTransient(_ code: Int32) -> Bool {
        [EMFILE, ENFILE, ENOMEM].contains(code)
    }

    /// A failure before any data was flushed: final unless for want of a resource.
    private func failure(_ call: String, _ code: Int32) -> WALSyncFailure {
        WALSyncFailure(reason: "\(call) \(path) failed: \(String(cString: strerror(code)))", isFinal: !Self.isTransient(code))
    }
}

private struct WALSyncFailure: Error {
    var reason: String
    var isFinal: Bool
    var unavailable: JournalUnavailable { JournalUnavailable(reason: reason) }
}

extension Result {
    fileprivate var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
