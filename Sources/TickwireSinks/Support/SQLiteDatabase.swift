import Foundation
import GRDB
import Logging
import TickwireCore

/// A SQLite database in WAL mode opened the way every Tickwire database needs it: directory
/// and file created for this user only, a busy timeout, the durability applied, migrations run, and checkpoints on a
/// thread of their own (`WALCheckpointer`), not inside a commit.
public struct SQLiteDatabase: Sendable {
    public let pool: DatabasePool
    public let checkpointer: WALCheckpointer

    public static func open(
        path: String, durability: Durability, migrator: DatabaseMigrator, logger: Logger = Logger(label: "tickwire.sqlite")
    ) throws -> SQLiteDatabase {
        let directory = (path as NSString).deletingLastPathComponent
        let created = try PrivateFiles.createDirectory(directory)
        try PrivateFiles.createFile(path)
        // SQLite syncs the directory a new WAL is in, not the directories above it.
        if durability == .full { try PrivateFiles.syncEntries(in: directory, created: created) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            // SQLite's "unable to open database file" does not say which.
            throw OpenError(path: path, reason: "\(error)", underlying: error as? DatabaseError)
        }
        // GRDB's migrate() skips migrations it does not know: an older Tickwire would run on
        // a schema it was not written for and fail on its first statement, far from here.
        if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
            try? pool.close()
            throw OpenError(path: path, reason: "it was written by a newer version of Tickwire; run that version (or newer)")
        }
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        // GRDB sets synchronous=NORMAL on the writer when it switches to WAL, after
        // prepareDatabase runs: set the mode once the pool is open (STACK.md).
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.backstopPages)")
        }
        try migrator.migrate(pool)
        let checkpointer = try WALCheckpointer(path: path, configuration: configuration, synchronous: synchronous, logger: logger)
        return SQLiteDatabase(pool: pool, checkpointer: checkpointer)
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        /// SQLite's own error, when it refused the file.
        public var underlying: DatabaseError? = nil
        public var description: String { "cannot open \(path): \(reason)" }
    }

    /// Stops checkpointing (which leaves the WAL empty), then closes the pool.
    public func close() throws {
        checkpointer.stop()
        try pool.close()
    }
}
