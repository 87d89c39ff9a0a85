import Foundation
import GRDB
import Testing
import TickwireSinks

/// The status store and the journal bind their per-event statements through SQLite's C API;
/// what they store must read back through GRDB exactly as GRDB would have written it.
@Suite("Binding through SQLite's C API")
struct SQLiteBindingTests {
    static func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n TEXT, UNIQUE (s))")
        }
        return queue
    }

    @Test func everyKindReadsBackAsGRDBSeesIt() throws {
        let queue = try Self.database()
        try queue.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO t (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)")
            try insert.run([.integer(-7), .real(2.5), .text("é\u{0}x"), .blob([0, 1, 255]), SQLiteValue(nil as String?)])
            #expect(db.lastInsertedRowID == 1)
            // An empty string and an empty blob are values, not NULL; a reused statement rebinds.
            try insert.run([.integer(Int64.max), SQLiteValue(true), .text(""), .blob([]), .text("n")])
        }
        let rows = try queue.read { db in try Row.fetchAll(db, sql: "SELECT i, r, s, hex(s) AS h, b, n FROM t ORDER BY id") }
        #expect(rows[0]["i"] == -7 as Int64)
        #expect(rows[0]["r"] == 2.5)
        // Every byte is bound, the NUL too (GRDB reads text up to a NUL, so compare bytes).
        #expect(rows[0]["h"] == "C3A90078")
        #expect(rows[0]["b"] == Data([0, 1, 255]))
        #expect(rows[0]["n"] as String? == nil)
        #expect(rows[1]["i"] == Int64.max)
        #expect(rows[1]["r"] == 1.0)
        #expect(rows[1]["s"] == "")
        #expect((rows[1]["b"] as DatabaseValue).isNull == false)
        #expect(rows[1]["n"] == "n")
    }

    @Test func rowsAreReadByPosition() throws {
        let queue = try Self.database()
        let read: [(Int64, Double, String?)] = try queue.write { db in
            try db.execute(sql: "INSERT INTO t (i, r, s) VALUES (1, 0.5, 'a'), (2, 1.5, NULL), (3, 2.5, 'ü')")
            var read: [(Int64, Double, String?)] = []
            try db.cachedStatement(sql: "SELECT i, r, s FROM t WHERE i >= ? ORDER BY i").run([.integer(2)]) { row in
                read.append((row.integer(0), row.real(1), row.text(2)))
            }
            return read
        }
        #expect(read.map(\.0) == [2, 3])
        #expect(read.map(\.1) == [1.5, 2.5])
        #expect(read.map(\.2) == [nil, "ü"])
    }

    @Test func failuresAreDatabaseErrorsWithSQLitesMessage() throws {
        let queue = try Self.database()
        try queue.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO t (s) VALUES (?)")
            try insert.run([.text("once")])
            let duplicate = #expect(throws: DatabaseError.self) { try insert.run([.text("once")]) }
            #expect(duplicate?.resultCode == .SQLITE_CONSTRAINT)
            #expect(duplicate?.message?.contains("UNIQUE") == true)
            #expect(throws: DatabaseError.self) { try insert.run([]) }
            // The statement is usable again after a failure.
            try insert.run([.text("twice")])
        }
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 2)
    }

    /// The journal's commits: what the block wrote is committed, a throwing block leaves
    /// nothing behind, and the connection is out of the transaction either way, with its
    /// cached BEGIN and COMMIT reusable.
    @Test func immediateTransactionCommitsOrRollsBack() throws {
        let queue = try Self.database()
        let count = { try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } }
        try queue.writeWithoutTransaction { db in
            let id = try db.immediateTransaction { db in
                try db.run("INSERT INTO t (s) VALUES (?)", [.text("kept")])
                #expect(db.isInsideTransaction)
                return db.lastInsertedRowID
            }
            #expect(id == 1 && !db.isInsideTransaction)
            // A failing statement after a successful one: both are gone.
            #expect(throws: DatabaseError.self) {
                try db.immediateTransaction { db in
                    try db.run("INSERT INTO t (s) VALUES (?)", [.text("dropped")])
                    try db.run("INSERT INTO t (s) VALUES (?)", [.text("kept")])
                }
            }
            #expect(!db.isInsideTransaction)
            struct Refused: Error {}
            #expect(throws: Refused.self) {
                try db.immediateTransaction { db in
                    try db.run("INSERT INTO t (s) VALUES (?)", [.text("dropped")])
                    throw Refused()
                }
            }
            #expect(!db.isInsideTransaction)
            try db.immediateTransaction { db in try db.run("INSERT INTO t (s) VALUES (?)", [.text("again")]) }
            // A transaction SQLite ended under a caught error is reported, not committed.
            let aborted = #expect(throws: DatabaseError.self) {
                try db.immediateTransaction { db in
                    try db.run("INSERT INTO t (s) VALUES (?)", [.text("dropped")])
                    try db.execute(sql: "ROLLBACK")
                }
            }
            #expect(aborted?.resultCode == .SQLITE_ABORT)
            #expect(!db.isInsideTransaction)
        }
        #expect(try count() == 2)
        #expect(try queue.read { db in try String.fetchAll(db, sql: "SELECT s FROM t ORDER BY id") } == ["kept", "again"])
    }

    /// A COMMIT that fails (a deferred constraint) leaves SQLite inside the transaction:
    /// it is rolled back, and the cached BEGIN and COMMIT work again.
    @Test func immediateTransactionRollsBackAFailedCommit() throws {
        let queue = try DatabaseQueue()
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: """
                PRAGMA foreign_keys = ON;
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (id INTEGER PRIMARY KEY,
                    parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
                """)
            let failed = #expect(throws: DatabaseError.self) {
                try db.immediateTransaction { db in try db.run("INSERT INTO child (parent) VALUES (?)", [.integer(7)]) }
            }
            #expect(failed?.resultCode == .SQLITE_CONSTRAINT)
            #expect(!db.isInsideTransaction)
            try db.immediateTransaction { db in
                try db.run("INSERT INTO parent (id) VALUES (?)", [.integer(7)])
                try db.run("INSERT INTO child (parent) VALUES (?)", [.integer(7)])
            }
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM child") == 1)
        }
    }
}
