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

    enum CodingKeys: String, CodingKey { case path }

    public init(path: String) {
        self.path = path
    }

    static let placeholders = ["{org}", "{channel}", "{date}"]
}
