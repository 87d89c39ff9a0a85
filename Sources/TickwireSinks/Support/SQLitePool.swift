import Foundation
import GRDB
import TickwireCore

/// Opens a SQLite database in WAL mode the way every Tickwire database needs it: directory
/// created, a busy timeout, the durability applied, migrations run.
public enum SQLitePool {
    public static func open(path: String, durability: Durability, migrator: DatabaseMigrator) throws -> DatabasePool {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB sets synchronous=NORMAL on the writer when it switches to WAL, after
        // prepareDatabase runs: set the mode once the pool is open (STACK.md).
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
        }
        try migrator.migrate(pool)
        return pool
    }
}
