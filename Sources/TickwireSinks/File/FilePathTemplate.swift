import TickwireCore

/// A file sink's `path`, split once into text and placeholders.
///
/// A batch's events nearly always share one file: `key(for:)` says which file an event
/// goes to without building its path, so the path is built once per file and batch, not
/// once per event (per-event path building showed in the profile).
struct FilePathTemplate: Sendable {
    private enum Part: Sendable, Equatable {
        case text(Substring)
        case org, channel, date
    }

    /// What decides an event's file; nil for what the template does not use.
    struct Key: Hashable {
        var org: String?
        var channel: String?
        /// Days since 1970-01-01 (UTC), for `{date}`.
        var day: Int64?
    }

    static let placeholders = ["{org}", "{channel}", "{date}"]

    private let parts: [Part]

    /// Fails with the first placeholder that is not one of `placeholders`, or a brace left open.
    init(_ template: String) throws(ConfigIssue) {
        var parts: [Part] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            if open > rest.startIndex { parts.append(.text(rest[..<open])) }
            guard rest[open] == "{", let close = rest[open...].firstIndex(of: "}") else {
                throw ConfigIssue("path \"\(template)\": unmatched brace (placeholders: \(Self.placeholders.joined(separator: ", ")))")
            }
            switch rest[open...close] {
            case "{org}": parts.append(.org)
            case "{channel}": parts.append(.channel)
            case "{date}": parts.append(.date)
            default:
                throw ConfigIssue("path \"\(template)\": unknown placeholder \(rest[open...close]) (known: \(Self.placeholders.joined(separator: ", ")))")
            }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.text(rest)) }
        self.parts = parts
    }

    func key(for event: Event) -> Key {
        var key = Key()
        for part in parts {
            switch part {
            case .text: continue
            case .org: key.org = event.org
            case .channel: key.channel = event.channel
            case .date: key.day = Timestamp.day(of: event.time)
            }
        }
        return key
    }

    func path(for event: Event) -> String {
        var path = ""
        for part in parts {
            switch part {
            case .text(let text): path += text
            case .org: path += event.org
            case .channel: path += event.channel
            case .date: path += Timestamp.format(event.time).prefix(10)
            }
        }
        return path
    }
}
