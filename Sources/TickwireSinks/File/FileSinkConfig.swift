import TickwireCore

/// `type: file` — appends each event as one CloudEvents JSON line.
///
/// ```yaml
/// sinks:
///   archive: { type: file, path: "data/{org}/events.jsonl" }
/// ```
public struct FileSinkConfig: Sendable, Decodable {
    /// Where lines go; `{org}`, `{channel}` and `{date}` (UTC, `YYYY-MM-DD`) are replaced per event.
    public var path: String
    /// How long a short batch waits to fill before it is written (one write and one fsync
    /// per batch); 0 writes at once.
    public var batchWait = ConfigDuration.localBatchWait

    enum CodingKeys: String, CodingKey {
        case path
        case batchWait = "batch_wait"
    }

    public init(path: String) {
        self.path = path
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        batchWait = try c.decodeIfPresent(ConfigDuration.self, forKey: .batchWait) ?? batchWait
    }
}
