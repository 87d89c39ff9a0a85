import Foundation
import Hummingbird
import HummingbirdCore
import TickwireCore

/// A request's query, first value of each name, with the checks the org API shares.
struct QueryParameters {
    let values: [String: String]
    /// A name given more than once, if any.
    private let repeated: String?
    /// The query as sent, before percent-decoding.
    private let raw: String?

    init(_ request: Request) {
        self.init(request.uri)
    }

    init(_ uri: URI) {
        var values: [String: String] = [:]
        var repeated: String?
        for (key, value) in uri.queryParameters {
            if values[String(key)] == nil {
                values[String(key)] = String(value)
            } else {
                repeated = repeated ?? String(key)
            }
        }
        self.values = values
        self.repeated = repeated
        self.raw = uri.query
    }

    /// A comma-separated list, split before its items are percent-decoded: an id with a
    /// comma in it (a reference id is the client's text) is sent as `%2C` and stays whole.
    /// Nil when absent.
    func list(_ name: String) throws(WebhookRejection) -> [String]? {
        guard values[name] != nil else { return nil }
        let prefix = name + "="
        let value = (raw ?? "").split(separator: "&").first { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count) } ?? ""
        var items: [String] = []
        for item in value.split(separator: ",") {
            guard let decoded = String(item).removingPercentEncoding else {
                throw .badRequest("\(name) is not valid percent-encoded UTF-8", code: "invalid_query")
            }
            let trimmed = decoded.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { items.append(trimmed) }
        }
        return items
    }

    subscript(_ name: String) -> String? { values[name] }

    /// Refuses names other than `allowed`, and any name given twice: a misspelt or
    /// ignored parameter (`reference_id=r1`, a second `ids=`) must not answer as if the
    /// client had asked for everything.
    /// `takes` says what the endpoint takes when that is more than `allowed` (another mode).
    func only(_ allowed: [String], takes: String? = nil) throws(WebhookRejection) -> QueryParameters {
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            let takes = takes ?? (allowed.isEmpty ? "no query parameters" : allowed.joined(separator: ", "))
            throw .badRequest("unknown query parameter \"\(WebhookIngest.printable(unknown))\" here (this takes \(takes))", code: "invalid_query")
        }
        if let repeated {
            throw .badRequest("query parameter \"\(WebhookIngest.printable(repeated))\" given more than once", code: "invalid_query")
        }
        return self
    }

    /// An RFC 3339 time, or nil when absent.
    func date(_ name: String) throws(WebhookRejection) -> Date? {
        guard let text = values[name] else { return nil }
        guard let date = Timestamp.parse(text) else {
            throw .badRequest("\(name) must be \(Timestamp.inputForm)", code: "invalid_query")
        }
        return date
    }

    /// `limit`: 1 to 1000, 100 when absent.
    func limit() throws(WebhookRejection) -> Int {
        let limit = values["limit"].map { Int($0) ?? -1 } ?? 100
        guard (1...1000).contains(limit) else { throw .badRequest("limit must be 1 to 1000", code: "invalid_query") }
        return limit
    }
}
