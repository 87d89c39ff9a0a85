import Foundation
import GRDB
import TickwireCore

/// A SQLite database in WAL mode opened the way every Tickwire database needs it: directory
/// created, a busy timeout, the durability applied, migrations run, and checkpoints on a
/// thread of their own (`WALCheckpointer`), not inside a commit.
public struct SQLiteDatabase: Sendable {
    public let pool: DatabasePool
    public let checkpointer: WALCheckpointer

    public static func open(path: String, durability: Durability, migrator: DatabaseMigrator) throws -> SQLiteDatabase {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: configuration)
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        // GRDB sets synchronous=NORMAL on the writer when it switches to WAL, after
        // prepareDatabase runs: set the mode once the pool is open (STACK.md).
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.backstopPages)")
        }
        try migrator.migrate(pool)
        let checkpointer = try WALCheckpointer(path: path, configuration: configuration, synchronous: synchronous)
        return SQLiteDatabase(pool: pool, checkpointer: checkpointer)
    }

    /// Stops checkpointing (which leaves the WAL empty), then closes the pool.
    public func close() throws {
        checkpointer.stop()
        try pool.close()
    }
}
