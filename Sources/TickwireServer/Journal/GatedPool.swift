import GRDB
import Synchronization
import TickwireCore
import TickwireSinks

/// A database pool that can be closed while tasks still use it: once closed, new reads and
/// writes fail with `JournalUnavailable`, and the pool itself closes only after those in
/// flight have finished (GRDB's `close` must not race a read or a write).
///
/// With a `WALSync` (the journal with `durability: full`), `write` and
/// `writeWithoutTransaction` return once their commit is synced; `writeBlocking` leaves that
/// to its caller (group commit).
final class GatedPool: Sendable {
    private struct Gate {
        var closed = false
        var inFlight = 0
    }

    private let database: SQLiteDatabase
    private var pool: DatabasePool { database.pool }
    private let gate = Mutex(Gate())
    let sync: WALSync?

    init(_ database: SQLiteDatabase, sync: WALSync? = nil) {
        self.database = database
        self.sync = sync
    }

    func read<T: Sendable>(_ value: @Sendable (Database) throws -> T) async throws -> T {
        try enter()
        defer { leave() }
        return try await pool.read(value)
    }

    func write<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        try await synced { try await pool.write(updates) }
    }

    /// A write on the calling thread, for a thread of its own (the journal's group commit):
    /// no hop to GRDB's queue and back, and no statements compiled per transaction.
    func writeBlocking<T>(_ updates: (Database) throws -> T) throws -> T {
        try enter(writing: true)
        defer { leave() }
        return try pool.writeWithoutTransaction { db in try db.immediateTransaction(updates) }
    }

    func writeWithoutTransaction<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        try await synced { try await pool.writeWithoutTransaction(updates) }
    }

    /// `write`, then the fsync that makes it durable.
    private func synced<T>(_ write: () async throws -> T) async throws -> T {
        try enter(writing: true)
        defer { leave() }
        let value = try await write()
        try await sync?.synced()
        return value
    }

    /// Whether writes are let through: not closed, and no sync has failed.
    var acceptsWrites: Bool {
        sync?.failure == nil && !gate.withLock { $0.closed }
    }

    func close() async throws {
        gate.withLock { $0.closed = true }
        while gate.withLock({ $0.inFlight }) > 0 {
            // In a task of its own: a cancelled caller's sleep returns at once, and this
            // loop spun a core for as long as a write waited on a hung fsync.
            await Task { try? await Task.sleep(for: .milliseconds(5)) }.value
        }
        sync?.stop()
        try database.close()
    }

    /// Once a sync has failed nothing more is written: it could not be answered, and the
    /// dispatchers would deliver what providers were told failed.
    private func enter(writing: Bool = false) throws {
        if writing, let failure = sync?.failure { throw failure }
        try gate.withLock { gate in
            guard !gate.closed else { throw JournalUnavailable(reason: "the journal is closed") }
            gate.inFlight += 1
        }
    }

    private func leave() {
        gate.withLock { $0.inFlight -= 1 }
    }
}
