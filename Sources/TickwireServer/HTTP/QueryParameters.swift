import Foundation
import Hummingbird
import HummingbirdCore
import TickwireCore

/// A request's query, first value of each name, with the checks the org API shares.
struct QueryParameters {
    let values: [String: String]
    /// A name given more than once, if any.
    private let repeated: String?

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
    }

    subscript(_ name: String) -> String? { values[name] }

    /// Refuses names other than `allowed`, and any name given twice: a misspelt or
    /// ignored parameter (`reference_id=r1`, a second `ids=`) must not answer as if the
    /// client had asked for everything.
    func only(_ allowed: [String]) throws(WebhookRejection) -> QueryParameters {
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            let takes = allowed.isEmpty ? "no query parameters" : allowed.joined(separator: ", ")
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
