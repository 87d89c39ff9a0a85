import GRDB
import GRDBSQLite

/// A value bound straight through SQLite's C API, for statements that run once per event.
///
/// GRDB's `StatementArguments` boxes every value in an existential, and built from an array
/// of optionals it resolved a type by its mangled name on every call; reading a `Row` column
/// by name lowercases the name each time. Binding these instead, the status store writes half
/// as many events again per second (bench/RESULTS.md). The status store and the journal's
/// insert use them; everything else keeps GRDB's API.
///
/// Skipping GRDB's execution hooks is safe here: transaction state is read from SQLite
/// (`sqlite3_get_autocommit`) by GRDB itself, and no transaction observers are registered.
public enum SQLiteValue: Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public init(_ text: String?) { self = text.map(SQLiteValue.text) ?? .null }
    public init(_ bytes: [UInt8]?) { self = bytes.map(SQLiteValue.blob) ?? .null }
    public init(_ flag: Bool) { self = .integer(flag ? 1 : 0) }
}

extension Database {
    /// Runs `sql` through GRDB's statement cache with `values` bound by the C API.
    public func run(_ sql: String, _ values: [SQLiteValue], row: ((SQLiteRow) throws -> Void)? = nil) throws {
        try cachedStatement(sql: sql).run(values, row: row)
    }
}

extension Database {
    /// Runs `updates` in a `BEGIN IMMEDIATE` transaction, as GRDB's `write` does, with the
    /// `BEGIN` and the `COMMIT` taken from the statement cache: `write` compiles both on every
    /// call, a tenth of a one-event journal commit (bench/RESULTS.md, tenth session). Rolls
    /// back and rethrows on error.
    public func immediateTransaction<T>(_ updates: (Database) throws -> T) throws -> T {
        try cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            let value = try updates(self)
            // As GRDB's `inTransaction`: if SQLite rolled the transaction back (disk full, an
            // I/O error) under an error `updates` caught, what ran after it committed on its
            // own; say so rather than "no transaction is active".
            guard isInsideTransaction else {
                throw DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted")
            }
            try cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return value
        } catch {
            // GRDB's rollback only runs if SQLite has not already rolled the transaction back.
            try? rollback()
            throw error
        }
    }
}

/// SQLite copies the bytes while binding (`SQLITE_TRANSIENT`, a macro Swift cannot import).
private let copyWhileBinding = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension Statement {
    /// Binds `values` to the parameters in order, steps to completion and hands each result
    /// row to `row`. Runs inside the caller's transaction, like `execute(arguments:)`.
    public func run(_ values: [SQLiteValue], row: ((SQLiteRow) throws -> Void)? = nil) throws {
        let statement = sqliteStatement
        sqlite3_reset(statement)
        // Reset when done too, so that no cursor stays open after an error or a throwing `row`.
        defer { sqlite3_reset(statement) }
        guard Int(sqlite3_bind_parameter_count(statement)) == values.count else {
            throw DatabaseError(message: "\(values.count) values for \(sqlite3_bind_parameter_count(statement)) parameters", sql: sql)
        }
        for (offset, value) in values.enumerated() {
            let code = bind(value, at: Int32(offset + 1), in: statement)
            guard code == SQLITE_OK else { throw failure(code) }
        }
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw failure(code) }
            try row?(SQLiteRow(statement: statement))
        }
    }

    private func bind(_ value: SQLiteValue, at position: Int32, in statement: SQLiteStatement) -> Int32 {
        switch value {
        case .null:
            return sqlite3_bind_null(statement, position)
        case .integer(let number):
            return sqlite3_bind_int64(statement, position, number)
        case .real(let number):
            return sqlite3_bind_double(statement, position, number)
        case .text(var text):
            // An empty string is still text (a null pointer would bind NULL).
            if text.isEmpty { return sqlite3_bind_text(statement, position, "", 0, copyWhileBinding) }
            // Exact bytes: a NUL inside stays.
            return text.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { chars in
                    sqlite3_bind_text(statement, position, chars.baseAddress, Int32(chars.count), copyWhileBinding)
                }
            }
        case .blob(let bytes):
            if bytes.isEmpty { return sqlite3_bind_zeroblob(statement, position, 0) }
            return bytes.withUnsafeBytes { raw in
                sqlite3_bind_blob(statement, position, raw.baseAddress, Int32(raw.count), copyWhileBinding)
            }
        }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        let message = sqlite3_db_handle(sqliteStatement).flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }
}

/// One result row of `Statement.run`, read by column position (from 0).
public struct SQLiteRow {
    fileprivate let statement: SQLiteStatement

    public func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    public func real(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    public func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(statement, column) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
    }
}
