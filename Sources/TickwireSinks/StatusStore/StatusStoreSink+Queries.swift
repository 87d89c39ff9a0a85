import Crypto
import Foundation
import GRDB
import TickwireCore

/// What the org API asks the store. Every query has `org = ?` in its SQL: one org's key
/// never reads another org's messages. Statements come from each connection's cache:
/// compiling them (with GRDB's authorizer working out the tables read) was a fifth of a
/// lookup's CPU.
extension StatusStoreSink {
    /// One message by any of its ids (Gupshup's, WhatsApp's, …); nil if unknown.
    public func message(org: String, id: String) async throws -> JSONValue? {
        try await pool.read { db in
            guard let message = try Int64.fetchOne(
                db.cachedStatement(sql: StatusStoreSchema.messageByAlias), arguments: [org, id])
            else { return nil }
            return try Self.document(message, org: org, db: db)
        }
    }

    /// Several messages by id (`ids`) or by reference id; unknown ones are listed apart, and
    /// a message named twice (its Gupshup and its WhatsApp id) is listed once. At most
    /// `limit` documents in all: a reference id is the client's text (a campaign tag, say),
    /// and one can name any number of messages. `truncated` says some were left out.
    public func messages(
        org: String, ids: [String], byReference: Bool, limit: Int = 1000
    ) async throws -> (found: [JSONValue], notFound: [String], truncated: Bool) {
        try await pool.read { db in
            var found: [JSONValue] = []
            var notFound: [String] = []
            var truncated = false
            var listed: Set<Int64> = []
            let sql = (byReference ? StatusStoreSchema.messagesByReference : StatusStoreSchema.messageByAlias) + " LIMIT ?"
            for id in ids {
                let messages = try Int64.fetchAll(db.cachedStatement(sql: sql), arguments: [org, id, limit - found.count + 1])
                if messages.isEmpty { notFound.append(id) }
                for message in messages where !listed.contains(message) {
                    guard found.count < limit else {
                        truncated = true
                        break
                    }
                    listed.insert(message)
                    found.append(try Self.document(message, org: org, db: db))
                }
            }
            return (found, notFound, truncated)
        }
    }

    /// Messages by current status and time of their last event, oldest first, keyset-paginated:
    /// pass the returned cursor to get the next page.
    public func messages(
        org: String, status: String?, since: Date?, until: Date?, limit: Int, after given: String?
    ) async throws -> (messages: [JSONValue], next: String?) {
        let start = given.flatMap { position(of: $0, org: org) } ?? (-Double.infinity, 0)
        return try await pool.read { db in
            let (sql, arguments) = Self.messagesQuery(org: org, status: status, since: since, until: until, limit: limit, after: start)
            let rows = try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
            let page = rows.prefix(limit)
            let documents = try page.map { try Self.document($0["id"], org: org, db: db) }
            let next = rows.count > limit ? page.last.map { cursor(at: ($0["updated_at"], $0["id"]), org: org) } : nil
            return (documents, next)
        }
    }

    /// The listing's SQL: each page is read from an index in its order (by status, or by time
    /// when no status is asked for), from the cursor on.
    static func messagesQuery(
        org: String, status: String?, since: Date?, until: Date?, limit: Int, after position: (Double, Int64)
    ) -> (String, StatementArguments) {
        var sql = "SELECT id, updated_at FROM messages WHERE org = ? AND (updated_at, id) > (?, ?)"
        var arguments: [any DatabaseValueConvertible] = [org, position.0 == -.infinity ? -1e18 : position.0, position.1]
        if let status { sql += " AND status = ?"; arguments.append(status) }
        if let since { sql += " AND updated_at >= ?"; arguments.append(since.timeIntervalSince1970) }
        if let until { sql += " AND updated_at < ?"; arguments.append(until.timeIntervalSince1970) }
        sql += " ORDER BY updated_at, id LIMIT ?"
        arguments.append(limit + 1)
        return (sql, StatementArguments(arguments))
    }

    /// The status document of DESIGN §4.
    static func document(_ message: Int64, org: String, db: Database) throws -> JSONValue {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM messages WHERE id = ? AND org = ?"), arguments: [message, org]) else {
            return .null
        }
        let aliases = try String.fetchAll(
            db.cachedStatement(sql: "SELECT alias FROM message_ids WHERE org = ? AND message = ? ORDER BY alias"), arguments: [org, message])
        // The same report through two channels of the org (a number moving from Gupshup to
        // Meta's own API) is two events, one line.
        let history = try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT status, native, at, inferred FROM history WHERE message = ? AND org = ?
                GROUP BY status, native, at, inferred
                ORDER BY at, CASE status WHEN 'enqueued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                    WHEN 'read' THEN 3 ELSE 4 END, MIN(id)
                """),
            arguments: [message, org])
        let statuses: [JSONValue] = history.map { item in
            var entry: JSONObject = [
                "status": .string(item["status"]), "at": .string(Timestamp.format(Date(timeIntervalSince1970: item["at"]))),
            ]
            if item["inferred"] as Bool { entry["inferred"] = true }
            if let native: String = item["native"] { entry["native"] = .string(native) }
            return .object(entry)
        }
        // The column keeps the failure's error; the document shows it only while the message
        // stands failed (a `failed` after `delivered` is history, not the message's state).
        let status: String? = row["status"]
        let error: String? = status == MessageStatus.failed.rawValue ? row["error"] : nil
        return .object([
            "id": .string(row["canonical_id"]), "org": .string(org), "channel": JSONValue(row["channel"] as String?),
            "provider": JSONValue(row["provider"] as String?), "direction": .string(row["direction"]),
            "recipient": JSONValue(row["recipient"] as String?), "sender": JSONValue(row["sender"] as String?),
            "reference_id": JSONValue(row["reference_id"] as String?), "status": JSONValue(status),
            "type": JSONValue(row["message_type"] as String?),
            "error": error.flatMap { try? JSONValue.parse($0) } ?? .null,
            "updated_at": .string(Timestamp.format(Date(timeIntervalSince1970: row["updated_at"]))),
            "provider_message_ids": .array(aliases.map(JSONValue.string)),
            "statuses": .array(statuses),
        ])
    }

    /// A cursor for the listing position `position` of `org`: sealed, so that it shows
    /// neither the row id (counted over every org in the store) nor the time, and cannot
    /// be made up or used for another org.
    func cursor(at position: (Double, Int64), org: String) -> String {
        var plain = Data()
        withUnsafeBytes(of: position.0.bitPattern.bigEndian) { plain.append(contentsOf: $0) }
        withUnsafeBytes(of: position.1.bigEndian) { plain.append(contentsOf: $0) }
        // Sealing fails only for a key of the wrong size, which `init` rules out.
        let sealed = try! ChaChaPoly.seal(plain, using: cursorKey, authenticating: Data(org.utf8)).combined
        return sealed.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The position a cursor of `messages(org:status:…)` for `org` stands for; nil if it is
    /// not one this store made for that org.
    public func position(of cursor: String, org: String) -> (Double, Int64)? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard cursor.utf8.count <= 64, let data = Data(base64Encoded: base64),
            let box = try? ChaChaPoly.SealedBox(combined: data),
            let plain = try? ChaChaPoly.open(box, using: cursorKey, authenticating: Data(org.utf8)), plain.count == 16
        else { return nil }
        let bits = plain.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let id = plain.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let time = Double(bitPattern: bits)
        return time.isFinite ? (time, Int64(bitPattern: id)) : nil
    }
}
