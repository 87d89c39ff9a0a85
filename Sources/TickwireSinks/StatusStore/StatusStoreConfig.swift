import TickwireCore

/// `type: sqlite` — the message-status store: what happened to each message, queryable
/// through the org API (`GET /v1/orgs/{org}/messages/…`).
///
/// ```yaml
/// sinks:
///   store: { type: sqlite, path: data/store.sqlite }
/// ```
public struct StatusStoreConfig: Sendable, Decodable {
    /// The store's own SQLite file (created with its directory).
    public var path: String

    enum CodingKeys: String, CodingKey { case path }
}
