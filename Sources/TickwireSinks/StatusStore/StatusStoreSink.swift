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

    init(database: SQLiteDatabase, batchWait: Duration, logger: Logger) {
        self.database = database
        self.batchWait = batchWait
        self.logger = logger
    }

    /// Opens (creating or migrating) the store at `path`.
    public static func open(
        path: String, durability: Durability, batchWait: Duration = ConfigDuration.localBatchWait.duration,
        logger: Logger = Logger(label: "tickwire.store")
    ) throws -> StatusStoreSink {
        let database = try SQLiteDatabase.open(path: path, durability: durability, migrator: StatusStoreSchema.migrator, logger: logger)
        return StatusStoreSink(database: database, batchWait: batchWait, logger: logger)
    }

    public func deliver(_ batch: [Event]) async -> DeliveryReport {
        do {
            try await pool.write { db in
                for event in batch { try StatusStoreWriter.apply(event, db: db) }
            }
            return .all(.delivered, count: batch.count)
        } catch {
            logger.warning("status store write failed", metadata: ["error": "\(error)"])
            return .all(.retry(reason: "status store: \(error)"), count: batch.count)
        }
    }

    public func shutdown() async {
        try? database.close()
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
        try open(path: config.path, durability: context.durability, batchWait: config.batchWait.duration, logger: context.logger)
    }
}
