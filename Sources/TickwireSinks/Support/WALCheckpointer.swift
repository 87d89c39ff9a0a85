import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization
import TickwireCore

/// Copies a WAL database's committed pages back into the database file, on a thread and a
/// connection of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: under
/// load one journal commit in ~70 took 5–10 ms, and every webhook waiting on it with it,
/// which was most of the p99 (bench/RESULTS.md, fourth session of 2026-11-30). PASSIVE
/// checkpoints here never block the writer or readers. They run every 20 ms while the WAL
/// grows and back off to once a second while it does not. With the same `synchronous` as
/// the writer, a checkpoint syncs the WAL before copying and the database file before the
/// WAL may be reused, so durability is the writer's. The writer keeps SQLite's automatic
/// checkpoint at `backstopPages` in case this thread cannot keep up.
public final class WALCheckpointer: Sendable {
    /// The writer's automatic checkpoint threshold while a checkpointer runs (~64 MiB of WAL).
    public static let backstopPages = 16_000
    static let busyInterval: Duration = .milliseconds(20)
    static let idleInterval: Duration = .seconds(1)

    private let connection: DatabaseQueue
    private let thread = PeriodicThread(name: "tw-checkpoint")
    /// Checkpoints that copied frames, for tests.
    let checkpoints = Atomic<Int>(0)

    /// How far checkpointing got, and what was last said about it.
    private struct Pace {
        var interval = WALCheckpointer.busyInterval
        var frames = -1
        var copied = -1
        var failureReported: ContinuousClock.Instant?
        /// Since when checkpoints have copied nothing while the WAL had frames to copy, and
        /// how many frames it had then.
        var heldBack: (since: ContinuousClock.Instant, frames: Int)?
        var heldBackReported: ContinuousClock.Instant?
    }

    /// Opens a second connection to the database at `path` and starts checkpointing.
    /// `heldBackWarning`: how long checkpoints may copy nothing while the WAL grows before
    /// it is logged (shorter in tests).
    init(path: String, configuration: Configuration, synchronous: String, logger: Logger, heldBackWarning: Duration = .seconds(60)) throws {
        connection = try DatabaseQueue(path: path, configuration: configuration)
        try connection.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        // A checkpoint every busyInterval while the WAL grows, backing off to idleInterval.
        thread.start(Pace()) { [self] pace in
            let frames: Int, copied: Int
            do {
                (frames, copied) = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            } catch {
                // Retried at the next turn; meanwhile the writer's backstop checkpoint bounds
                // the WAL. Said at most once a minute: a disk that fails keeps failing.
                if pace.failureReported.map({ ContinuousClock.now - $0 >= .seconds(60) }) ?? true {
                    pace.failureReported = .now
                    logger.warning(
                        "WAL checkpoint failed: the WAL grows until the writer's own checkpoint takes over",
                        metadata: ["database": "\(path)", "error": "\(error)"])
                }
                pace.interval = Self.busyInterval
                return pace.interval
            }
            if frames != pace.frames || copied < frames {
                if copied > 0 { checkpoints.add(1, ordering: .relaxed) }
                pace.interval = Self.busyInterval
            } else {
                pace.interval = min(pace.interval * 2, Self.idleInterval)
            }
            Self.watchHeldBack(&pace, frames: frames, copied: copied, warningAfter: heldBackWarning, path: path, logger: logger)
            pace.frames = frames
            pace.copied = copied
            return pace.interval
        }
    }

    /// A reader that keeps a transaction open (an operator's `sqlite3` left in `BEGIN`, a
    /// backup tool) stops checkpoints at its snapshot: neither this thread nor the writer's
    /// backstop can copy past it, and the WAL grows on the disk for as long as it stays.
    /// Said once a minute while it lasts, and when it ends.
    private static func watchHeldBack(
        _ pace: inout Pace, frames: Int, copied: Int, warningAfter: Duration, path: String, logger: Logger
    ) {
        guard copied < frames, copied == pace.copied else {
            if pace.heldBackReported != nil {
                logger.notice("WAL checkpoints copy again", metadata: ["database": "\(path)"])
            }
            pace.heldBack = nil
            pace.heldBackReported = nil
            return
        }
        let held = pace.heldBack ?? (since: .now, frames: frames)
        pace.heldBack = held
        let now = ContinuousClock.now
        guard now - held.since >= warningAfter, frames > held.frames,
            pace.heldBackReported.map({ now - $0 >= .seconds(60) }) ?? true
        else { return }
        pace.heldBackReported = now
        logger.warning(
            "WAL checkpoints are held back by a reader: a connection keeps a read transaction open (an sqlite3 shell in BEGIN, a backup tool?), and the WAL grows until it ends",
            metadata: [
                "database": "\(path)", "held_for": "\(Int((now - held.since).components.seconds))s",
                "wal_frames": "\(frames)", "frames_not_copied": "\(frames - copied)",
            ])
    }

    /// Ends the thread, empties the WAL and closes the connection; returns once done.
    ///
    /// SQLite checkpoints and deletes the WAL when the last connection closes, but GRDB
    /// closes a pool's writer before its read-only readers, which cannot: the WAL (up to
    /// `backstopPages`) stayed on disk and was read back at the next start. A TRUNCATE
    /// checkpoint here, once the writer is done, leaves it empty.
    public func stop() {
        guard thread.stop() else { return }
        // Without waiting: a TRUNCATE checkpoint that waits for readers holds off every
        // writer meanwhile, and another process may be writing (a daemon running beside
        // `tickwire replay`, whose commits would stall and then fail). This process's own
        // writer is done by now; failing only leaves the WAL for the next start.
        _ = try? connection.writeWithoutTransaction { db in
            sqlite3_busy_timeout(db.sqliteConnection, 0)
            try db.checkpoint(.truncate)
        }
        try? connection.close()
    }
}
