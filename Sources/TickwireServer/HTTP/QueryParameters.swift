import Foundation
import Hummingbird
import HummingbirdCore
import TickwireCore

/// A request's query, first value of each name, with the checks the org API shares.
struct QueryParameters {
    let values: [String: String]

    init(_ request: Request) {
        self.init(request.uri)
    }

    init(_ uri: URI) {
        var values: [String: String] = [:]
        for (key, value) in uri.queryParameters where values[String(key)] == nil {
            values[String(key)] = String(value)
        }
        self.values = values
    }

    subscript(_ name: String) -> String? { values[name] }

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
