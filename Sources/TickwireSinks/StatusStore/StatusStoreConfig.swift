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
    /// How long a short batch waits to fill before it is applied (one transaction per
    /// batch); 0 applies at once.
    public var batchWait = ConfigDuration.localBatchWait

    enum CodingKeys: String, CodingKey {
        case path
        case batchWait = "batch_wait"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        batchWait = try c.decodeIfPresent(ConfigDuration.self, forKey: .batchWait) ?? batchWait
    }
}
