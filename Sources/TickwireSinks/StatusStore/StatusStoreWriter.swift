import Foundation
import GRDB
import TickwireCore

/// Applies events to the store inside one write transaction (DESIGN §3).
///
/// The current status is derived from the whole history, so the order in which events
/// arrive never matters: the highest ladder step reached wins, `failed` wins only when the
/// message never reached `delivered`, and a `read` without a `delivered` adds an inferred
/// `delivered` to the history.
enum StatusStoreWriter {
    static func apply(_ event: Event, db: Database) throws {
        guard event.type.rawValue.hasPrefix("message.") else { return }
        let ids = aliases(of: event)
        guard !ids.isEmpty else { return }
        let times = Times(of: event)
        guard let (message, known) = try resolve(ids: ids, event: event, db: db) else {
            return try create(event, ids: ids, times: times, db: db)
        }
        // Most events are about a message whose ids are all known: nothing to insert.
        try insertAliases(ids.filter { !known.contains($0) }, message: message, org: event.org, db: db)
        var newFailure = false
        if let status = historyStatus(of: event) {
            try insertHistory(event, status: status, message: message, receivedAt: times.received, db: db)
            // A duplicate changes nothing; a merge (several ids found) may have.
            guard db.changesCount > 0 || known.count < ids.count else { return }
            newFailure = db.changesCount > 0 && event.status == .failed
        }
        let status = try refreshHistory(message, org: event.org, db: db)
        // Details arrive piecemeal (the recipient on one event, the reference id on
        // another): keep the first value of each. A new failure's error replaces the one
        // shown unless that one has a code and the new one has none (two reports of one
        // failure, in either order, show the code). One UPDATE with the status, so the
        // row and its status index change once per event.
        try db.run(
            """
            UPDATE messages SET
                channel = COALESCE(channel, ?), provider = COALESCE(provider, ?),
                recipient = COALESCE(recipient, ?), sender = COALESCE(sender, ?),
                reference_id = COALESCE(reference_id, ?),
                message_type = COALESCE(message_type, ?),
                direction = CASE WHEN ? THEN 'inbound' ELSE direction END,
                first_seen = MIN(first_seen, ?), updated_at = MAX(updated_at, ?),
                error = CASE WHEN ? AND (error IS NULL OR json_extract(error, '$.code') IS NULL OR json_extract(?, '$.code') IS NOT NULL)
                    THEN ? ELSE error END,
                status = ?,
                canonical_id = CASE WHEN ? THEN ? ELSE canonical_id END
            WHERE id = ?
            """,
            details(of: event) + [
                SQLiteValue(event.type == .messageReceived), .real(times.listing), .real(times.listing),
                SQLiteValue(newFailure), SQLiteValue(errorText(event)), SQLiteValue(errorText(event)), SQLiteValue(status?.rawValue),
                // An event that names several ids (Gupshup's and WhatsApp's) says which one
                // is the message's (`message_id`, first): the document's id, whichever event
                // came first. Events naming one id leave it.
                SQLiteValue(ids.count > 1), .text(ids[0]),
                .integer(message),
            ])
    }

    /// What an event tells of its message, in the order both statements that write a
    /// message list them: channel, provider, recipient, sender, reference id, message type.
    private static func details(of event: Event) -> [SQLiteValue] {
        [
            .text(event.channel), .text(event.provider), SQLiteValue(event.data["recipient"]?.nonEmptyString),
            SQLiteValue(event.data["sender"]?.nonEmptyString), SQLiteValue(event.data["reference_id"]?.nonEmptyString),
            SQLiteValue(event.data["message"]?["type"]?.nonEmptyString),
        ]
    }

    /// The first event of a message: its row is written whole, with its status, instead
    /// of inserted and then updated.
    private static func create(_ event: Event, ids: [String], times: Times, db: Database) throws {
        let status = historyStatus(of: event)
        try db.run(
            """
            INSERT INTO messages (org, canonical_id, channel, provider, recipient, sender, reference_id,
                message_type, direction, status, error, first_seen, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(event.org), .text(ids[0])] + details(of: event) + [
                // A deletion is the user's ("deleted for everyone"): its message came in.
                .text(event.type == .messageReceived || event.type == .messageDeleted ? "inbound" : "outbound"),
                SQLiteValue(MessageStatus.current(of: status.flatMap(MessageStatus.init(rawValue:)).map { [$0] } ?? [])?.rawValue),
                SQLiteValue(event.status == .failed ? errorText(event) : nil), .real(times.listing), .real(times.listing),
            ])
        let message = db.lastInsertedRowID
        try insertAliases(ids, message: message, org: event.org, db: db)
        guard let status else { return }
        try insertHistory(event, status: status, message: message, receivedAt: times.received, db: db)
        // A read first: the history gets its inferred `delivered`.
        if event.status == .read { _ = try refreshHistory(message, org: event.org, db: db) }
    }

    private static func insertAliases(_ aliases: [String], message: Int64, org: String, db: Database) throws {
        for alias in aliases {
            try db.run("INSERT OR IGNORE INTO message_ids (org, alias, message) VALUES (?, ?, ?)", [.text(org), .text(alias), .integer(message)])
        }
    }

    private static func insertHistory(_ event: Event, status: String, message: Int64, receivedAt: Double, db: Database) throws {
        try db.run(
            "INSERT OR IGNORE INTO history (org, message, event_id, status, native, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                .text(event.org), .integer(message), .text(event.id), .text(status),
                SQLiteValue(event.data["native"]?["status"]?.stringValue), .real(event.time.timeIntervalSince1970),
                .real(receivedAt),
            ])
    }

    private static func errorText(_ event: Event) -> String? {
        event.data["error"].map { $0.serializedString() }
    }

    /// Every id the event gives for its message: each one finds the same message later.
    static func aliases(of event: Event) -> [String] {
        var ids: [String] = []
        for candidate in [event.data["message_id"]?.nonEmptyString, event.subject] + (event.data["provider_message_ids"]?.arrayValue ?? []).map(\.nonEmptyString) {
            if let id = candidate, !id.isEmpty, !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// The history's status name for an event: its ladder status, `other` for other message
    /// events (`message.other`; the line's `native` says which), or nil for inbound
    /// messages. A native name as the status left words outside the status vocabulary in
    /// documents ("mismatch", an echo's "text"), and one that is a ladder name (Meta's own
    /// API saying "enqueued") moved the message's status, which `message.other` never does.
    private static func historyStatus(of event: Event) -> String? {
        if event.type == .messageOther { return "other" }
        return event.status?.rawValue
    }

    /// When an event was received, and the time its message's row is listed by
    /// (`first_seen`, `updated_at`): the provider's, but never more than
    /// `Timestamp.clockSlack` after it was received. A time far ahead (a provider's clock or
    /// parsing bug) held `updated_at` there for good, and the message left every listing by
    /// time, its later changes with it. The history keeps the provider's time as told.
    private struct Times {
        let received: Double
        let listing: Double

        init(of event: Event) {
            received = event.data["received_at"]?.stringValue.flatMap(Timestamp.read)?.timeIntervalSince1970 ?? Date().timeIntervalSince1970
            listing = min(event.time.timeIntervalSince1970, received + Timestamp.clockSlack)
        }
    }

    /// The message the ids belong to: a new one, the one they name, or — when they name
    /// several that were created apart (Gupshup's id on `enqueued`, WhatsApp's on `sent`) —
    /// those merged into the oldest.
    /// Returns the message and the ids already pointing at it; nil for a new message.
    private static func resolve(ids: [String], event: Event, db: Database) throws -> (message: Int64, known: Set<String>)? {
        // One point lookup per id: `alias IN (…) ORDER BY message` built an ephemeral table
        // for the list and a sorter for the order on every event, and its SQL text per count.
        var rows: [(alias: String, message: Int64)] = []
        for alias in ids {
            try db.run(StatusStoreSchema.messageByAlias, [.text(event.org), .text(alias)]) { row in
                rows.append((alias, row.integer(0)))
            }
        }
        let found = Set(rows.map(\.message)).sorted()
        guard let keep = found.first else { return nil }
        for other in found.dropFirst() {
            let pair: [SQLiteValue] = [.integer(keep), .integer(other)]
            try db.run("UPDATE message_ids SET message = ?1 WHERE message = ?2", pair)
            // A history row present in both (the same event seen under two ids) is kept once.
            try db.run("UPDATE OR IGNORE history SET message = ?1 WHERE message = ?2", pair)
            try db.run("DELETE FROM history WHERE message = ?", [.integer(other)])
            try db.run(
                """
                UPDATE messages SET
                    recipient = COALESCE(recipient, (SELECT recipient FROM messages WHERE id = ?2)),
                    sender = COALESCE(sender, (SELECT sender FROM messages WHERE id = ?2)),
                    reference_id = COALESCE(reference_id, (SELECT reference_id FROM messages WHERE id = ?2)),
                    error = CASE WHEN error IS NULL OR (json_extract(error, '$.code') IS NULL
                            AND json_extract((SELECT error FROM messages WHERE id = ?2), '$.code') IS NOT NULL)
                        THEN (SELECT error FROM messages WHERE id = ?2) ELSE error END,
                    first_seen = MIN(first_seen, (SELECT first_seen FROM messages WHERE id = ?2)),
                    updated_at = MAX(updated_at, (SELECT updated_at FROM messages WHERE id = ?2))
                WHERE id = ?1
                """,
                pair)
            try db.run("DELETE FROM messages WHERE id = ?", [.integer(other)])
        }
        // After a merge every found id points at `keep`.
        return (keep, Set(rows.map(\.alias)))
    }

    /// Keeps exactly one inferred `delivered` while the history has a `read` and no real
    /// `delivered`, and returns the current status the history gives.
    private static func refreshHistory(_ message: Int64, org: String, db: Database) throws -> MessageStatus? {
        // One row per status, whatever the history's length: a group message's statuses
        // (one per participant, thousands) were all read back on every event.
        var statuses: [MessageStatus] = []
        var firstRead: Double?
        var inferred: [Double] = []
        try db.run(
            "SELECT status, inferred, MIN(at), COUNT(*) FROM history WHERE message = ? GROUP BY status, inferred", [.integer(message)]
        ) { row in
            if row.integer(1) != 0 {
                // A merge of two records that each had one brings two: that is a change too.
                inferred += Array(repeating: row.real(2), count: Int(row.integer(3)))
            } else if let status = row.text(0).flatMap(MessageStatus.init(rawValue:)) {
                statuses.append(status)
                if status == .read { firstRead = row.real(2) }
            }
        }
        let readAt = statuses.contains(.delivered) ? nil : firstRead
        if inferred != (readAt.map { [$0] } ?? []) {
            if !inferred.isEmpty {
                try db.run("DELETE FROM history WHERE message = ? AND inferred = 1", [.integer(message)])
            }
            if let readAt {
                try db.run(
                    "INSERT INTO history (org, message, event_id, status, at, received_at, inferred) VALUES (?, ?, ?, 'delivered', ?, ?, 1)",
                    [.text(org), .integer(message), .text("inferred:\(message)"), .real(readAt), .real(Date().timeIntervalSince1970)])
            }
        }
        return MessageStatus.current(of: statuses)
    }
}
