import Crypto
import Foundation
import GRDB
import Logging
import TickwireCore

/// The message-status store as a sink: each batch is applied in one transaction, and the
/// org API reads the same database (`StatusStoreSink+Queries.swift`).
public final class StatusStoreSink: Sink, Sendable {
    let database: SQLiteDatabase
    var pool: DatabasePool { database.pool }
    public let batchWait: Duration
    private let logger: Logger
    /// The file opened, by device and inode: SQLite goes on writing to a file deleted or
    /// replaced under it, where nothing will ever read what it writes.
    private let opened: FileIdentity?
    /// Seals listing cursors (`StatusStoreSink+Queries.swift`).
    let cursorKey: SymmetricKey

    init(database: SQLiteDatabase, batchWait: Duration, logger: Logger) throws {
        self.database = database
        self.batchWait = batchWait
        self.logger = logger
        self.opened = FileIdentity(path: database.pool.path)
        // A key someone removed is made anew: only the cursors handed out so far stop working.
        self.cursorKey = SymmetricKey(data: try database.pool.write { db in
            if let key = try Data.fetchOne(db, sql: "SELECT key FROM cursor_key WHERE id = 1"), key.count == 32 { return key }
            let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            try db.execute(sql: "INSERT OR REPLACE INTO cursor_key (id, key) VALUES (1, ?)", arguments: [key])
            return key
        })
    }

    /// Opens (creating or migrating) the store at `path`.
    public static func open(
        path: String, durability: Durability, batchWait: Duration = ConfigDuration.localBatchWait.duration,
        logger: Logger = Logger(label: "tickwire.store")
    ) throws -> StatusStoreSink {
        let database = try SQLiteDatabase.open(path: path, durability: durability, migrator: StatusStoreSchema.migrator, logger: logger)
        do {
            return try StatusStoreSink(database: database, batchWait: batchWait, logger: logger)
        } catch {
            try? database.close()
            throw error
        }
    }

    public func deliver(_ batch: [Event]) async -> DeliveryReport {
        do {
            try await apply(batch)
            return .all(.delivered, count: batch.count)
        } catch let error as DatabaseError where Self.refusesForGood(error) {
            logger.error("status store refused a batch: applying its events one by one", metadata: ["error": "\(error)"])
            return await oneByOne(batch)
        } catch let error as StoreFileReplaced {
            // Retried, not written: the events wait in the journal for the restart that
            // opens the file now at the path (a store restored from a backup, or a new one).
            return .all(.retry(reason: "\(error)"), count: batch.count)
        } catch {
            logger.warning("status store write failed", metadata: ["error": "\(error)"])
            return .all(.retry(reason: "status store: \(error)"), count: batch.count)
        }
    }

    /// An event the store refuses whatever the time (a constraint, a value it cannot hold)
    /// held back every event after it for good: local sinks retry in place, for ever. Each
    /// is applied on its own, and one refused so goes to the dead letters (replayable once
    /// the cause is fixed). A damaged file or a full disk is not such a refusal: retried.
    private func oneByOne(_ batch: [Event]) async -> DeliveryReport {
        var outcomes: [DeliveryOutcome] = []
        for (index, event) in batch.enumerated() {
            do {
                try await apply([event])
                outcomes.append(.delivered)
            } catch let error as DatabaseError where Self.refusesForGood(error) {
                outcomes.append(.reject(reason: "status store: \(error)"))
            } catch {
                // Not this event's doing: it and the rest are retried, in order.
                outcomes += Array(repeating: .retry(reason: "status store: \(error)"), count: batch.count - index)
                break
            }
        }
        return DeliveryReport(outcomes: outcomes)
    }

    /// Applies `events` in one transaction. The file is checked on GRDB's writer thread, not
    /// the caller's: a `stat` on a hung network mount must not block Swift's pool.
    private func apply(_ events: [Event]) async throws {
        let path = pool.path
        try await pool.write { [opened] db in
            if let opened, FileIdentity(path: path) != opened { throw StoreFileReplaced(path: path) }
            for event in events { try StatusStoreWriter.apply(event, db: db) }
        }
    }

    static func refusesForGood(_ error: DatabaseError) -> Bool {
        [.SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG].contains(error.resultCode)
    }

    public func shutdown() async {
        // On a thread of its own: on a hung disk the close waits for the checkpoint's and
        // the writer's fsync, and a blocked thread of Swift's pool (one per core) stalled
        // every task, the timers of a shutdown that gives up on this sink too.
        _ = try? await onOwnThread { [database] in try database.close() }
    }

    /// `PRAGMA synchronous` of the writer: 2 = FULL, 1 = NORMAL.
    public func synchronousMode() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }
}

extension StatusStoreSink: SinkFactory {
    public static let name = "sqlite"
    public static let answersStatusQueries = true

    public static func validate(_ config: StatusStoreConfig) throws(ConfigIssue) {
        guard !config.path.isEmpty else { throw ConfigIssue("path must not be empty") }
    }

    public static func make(config: StatusStoreConfig, context: SinkContext) async throws -> any Sink {
        // Off Swift's pool, for the same reason as `shutdown` (an UnopenedSink tries again
        // while the daemon serves).
        try await onOwnThread {
            try open(path: config.path, durability: context.durability, batchWait: config.batchWait.duration, logger: context.logger)
        }
    }
}

/// SQLite goes on writing to a file deleted or replaced under it, where nothing reads it.
struct StoreFileReplaced: Error, CustomStringConvertible {
    var path: String
    var description: String {
        "status store \(path) was deleted or replaced while open; restart Tickwire to open the file at that path"
    }
}
