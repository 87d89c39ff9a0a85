import Foundation
import GRDB
import TickwireCore

/// The store's tables. One message has many ids (`message_ids`: Gupshup's id, WhatsApp's id,
/// …) and a history of every status event; everything is scoped by org.
enum StatusStoreSchema {
    /// The message an id (`alias`) of an org names: a point lookup on `message_ids`' key.
    static let messageByAlias = "SELECT message FROM message_ids WHERE org = ? AND alias = ?"
    /// The messages of an org with a reference id, oldest first (`messages_reference`).
    static let messagesByReference = "SELECT id FROM messages WHERE org = ? AND reference_id = ? ORDER BY id"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    org TEXT NOT NULL,
                    canonical_id TEXT NOT NULL,
                    channel TEXT,
                    provider TEXT,
                    direction TEXT NOT NULL,
                    recipient TEXT,
                    sender TEXT,
                    message_type TEXT,
                    reference_id TEXT,
                    status TEXT,
                    error TEXT,
                    first_seen REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE INDEX messages_reference ON messages(org, reference_id);
                CREATE INDEX messages_status ON messages(org, status, updated_at, id);
                CREATE TABLE message_ids (
                    org TEXT NOT NULL,
                    alias TEXT NOT NULL,
                    message INTEGER NOT NULL REFERENCES messages(id),
                    PRIMARY KEY (org, alias)
                ) WITHOUT ROWID;
                CREATE INDEX message_ids_message ON message_ids(message);
                CREATE TABLE history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    org TEXT NOT NULL,
                    message INTEGER NOT NULL REFERENCES messages(id),
                    event_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    native TEXT,
                    at REAL NOT NULL,
                    received_at REAL NOT NULL,
                    inferred INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (org, event_id, status)
                );
                CREATE INDEX history_message ON history(message, at);
                """)
        }
        migrator.registerMigration("v2-history-unique-per-message") { db in
            // v1 made history rows unique per (org, event_id, status): event ids are hashes,
            // so every insert landed on a random page of that index, and the fsync of each
            // batch carried one such page per event. Per (message, event_id, status) the
            // same duplicates are refused (a message belongs to one org; a merge rehomes
            // rows with OR IGNORE) and a new message's rows go at the index's end.
            // SQLite cannot drop a UNIQUE constraint: the table is rebuilt, ids kept.
            try db.execute(sql: """
                CREATE TABLE history_v2 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    org TEXT NOT NULL,
                    message INTEGER NOT NULL REFERENCES messages(id),
                    event_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    native TEXT,
                    at REAL NOT NULL,
                    received_at REAL NOT NULL,
                    inferred INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (message, event_id, status)
                );
                INSERT INTO history_v2 (id, org, message, event_id, status, native, at, received_at, inferred)
                    SELECT id, org, message, event_id, status, native, at, received_at, inferred FROM history;
                DROP TABLE history;
                ALTER TABLE history_v2 RENAME TO history;
                CREATE INDEX history_message ON history(message, at);
                """)
        }
        migrator.registerMigration("v3-rowids") { db in
            // AUTOINCREMENT updated sqlite_sequence on every new message and history row, and
            // history_message duplicated what the unique (message, …) index already serves
            // (every history read is by message, sorted in memory): three B-tree writes per
            // event of about a dozen (`bench-store`: +5 %, 50 500 -> 53 000 events/s). Plain rowids
            // may reuse the id of the newest row after it is deleted (a merge); nothing
            // refers to a deleted message. Tables rebuilt, ids kept.
            try db.execute(sql: """
                CREATE TABLE messages_v3 (
                    id INTEGER PRIMARY KEY,
                    org TEXT NOT NULL,
                    canonical_id TEXT NOT NULL,
                    channel TEXT,
                    provider TEXT,
                    direction TEXT NOT NULL,
                    recipient TEXT,
                    sender TEXT,
                    message_type TEXT,
                    reference_id TEXT,
                    status TEXT,
                    error TEXT,
                    first_seen REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                INSERT INTO messages_v3 SELECT id, org, canonical_id, channel, provider, direction, recipient, sender,
                    message_type, reference_id, status, error, first_seen, updated_at FROM messages;
                DROP TABLE messages;
                ALTER TABLE messages_v3 RENAME TO messages;
                CREATE INDEX messages_reference ON messages(org, reference_id);
                CREATE INDEX messages_status ON messages(org, status, updated_at, id);
                CREATE TABLE history_v3 (
                    id INTEGER PRIMARY KEY,
                    org TEXT NOT NULL,
                    message INTEGER NOT NULL REFERENCES messages(id),
                    event_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    native TEXT,
                    at REAL NOT NULL,
                    received_at REAL NOT NULL,
                    inferred INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (message, event_id, status)
                );
                INSERT INTO history_v3 (id, org, message, event_id, status, native, at, received_at, inferred)
                    SELECT id, org, message, event_id, status, native, at, received_at, inferred FROM history;
                DROP TABLE history;
                ALTER TABLE history_v3 RENAME TO history;
                """)
        }
        migrator.registerMigration("v4-reference-index-partial") { db in
            // Most events carry no reference id, and each new message still put a NULL entry
            // into this index. `reference_id = ?` implies NOT NULL, so lookups use it as before.
            try db.execute(sql: """
                DROP INDEX messages_reference;
                CREATE INDEX messages_reference ON messages(org, reference_id) WHERE reference_id IS NOT NULL;
                """)
        }
        migrator.registerMigration("v5-messages-by-time") { db in
            // The org API lists messages by time with or without a status: without one, the
            // status index cannot give that order, and every page read and sorted all of the
            // org's messages.
            try db.execute(sql: "CREATE INDEX messages_updated ON messages(org, updated_at, id)")
        }
        migrator.registerMigration("v6-deleted-status") { db in
            // A message the user deleted for everyone, with no delivery status of its own
            // (an inbound one), now stands `deleted`: it stood null, and `status=deleted`
            // matched nothing.
            try db.execute(sql: """
                UPDATE messages SET status = 'deleted'
                WHERE status IS NULL AND id IN (SELECT message FROM history WHERE status = 'deleted')
                """)
        }
        migrator.registerMigration("v7-other-history-lines") { db in
            // `message.other` lines were stored under their native name; they read `other`
            // now (the name stays in `native`). A native name that is a ladder status cannot
            // be told from a status event's line and stays as it is.
            try db.execute(sql: """
                UPDATE OR IGNORE history SET status = 'other'
                WHERE inferred = 0 AND status NOT IN ('enqueued', 'sent', 'delivered', 'read', 'failed', 'deleted')
                """)
        }
        migrator.registerMigration("v8-listing-time-capped") { db in
            // A message is listed by a time at most an hour after its events were received
            // (StatusStoreWriter.Times); one an earlier version left far ahead stayed out of
            // every listing by time. Capped the same way. The time is bound, not SQL's
            // `unixepoch()`, which SQLite has only since 3.38 (Ubuntu 22.04 ships 3.37).
            try db.execute(
                sql: """
                    UPDATE messages SET updated_at = COALESCE(
                        (SELECT MAX(received_at) FROM history WHERE message = messages.id AND inferred = 0) + ?1, ?2 + ?1)
                    WHERE updated_at > ?2 + ?1
                    """,
                arguments: [Timestamp.clockSlack, Date().timeIntervalSince1970])
        }
        migrator.registerMigration("v9-cursor-key") { db in
            // The key listing cursors are sealed with (made when the store opens): a cursor
            // named a row id, counted over every org in the store, which told an org how many
            // messages the others had.
            try db.execute(sql: "CREATE TABLE cursor_key (id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL)")
        }
        return migrator
    }
}
