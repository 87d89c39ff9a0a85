import Foundation

/// A provider's HTTP callback as adapters and authenticators see it: raw bytes and strings,
/// no HTTP framework types, so plugins are testable without a server.
public struct WebhookRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }

    public var method: Method
    /// The request target as received: path and query, e.g. `/v1/webhooks/acme/tw?x=1`.
    public var uri: String
    /// Header names in lower case; a repeated header keeps its first value.
    public var headers: [String: String]
    /// Query parameters, percent-decoded; a repeated parameter keeps its first value.
    public var query: [String: String]
    /// The body exactly as received (signatures are computed over these bytes).
    public var body: [UInt8]
    public var receivedAt: Date

    public init(
        method: Method, uri: String, headers: [String: String], query: [String: String] = [:],
        body: [UInt8], receivedAt: Date = Date()
    ) {
        self.method = method
        self.uri = uri
        let lowercase = headers.keys.allSatisfy { !$0.utf8.contains { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) } }
        self.headers = lowercase
            ? headers : Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.query = query
        self.body = body
        self.receivedAt = Timestamp.truncatedToMilliseconds(receivedAt)
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The media type of the body without parameters, lower-cased (`application/json`).
    public var mediaType: String? { Self.mediaType(of: header("content-type")) }

    /// `Application/JSON; charset=utf-8` → `application/json`.
    public static func mediaType(of contentType: String?) -> String? {
        // On bytes: this runs for every webhook, and Foundation's trimming bridged to NSString.
        guard var type = contentType?.utf8[...] else { return nil }
        if let semicolon = type.firstIndex(of: UInt8(ascii: ";")) { type = type[..<semicolon] }
        return String(decoding: type.trimmingASCIIWhitespace, as: UTF8.self).lowercased()
    }
}

/// What a plugin answers instead of the default JSON acknowledgement.
public struct WebhookResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public static func text(_ text: String, status: Int = 200) -> WebhookResponse {
        WebhookResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    public static func json(_ value: JSONValue, status: Int = 200) -> WebhookResponse {
        WebhookResponse(status: status, contentType: "application/json", body: value.serializedBytes())
    }
}

/// A refusal with an HTTP status and a stable error code, answered as
/// `{"error": {"code": …, "message": …}}`. Messages never contain secrets.
public struct WebhookRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }

    public var response: WebhookResponse {
        .json(["error": ["code": .string(code), "message": .string(message)]], status: status)
    }

    public static func badRequest(_ message: String, code: String = "invalid_body") -> WebhookRejection {
        WebhookRejection(status: 400, code: code, message: message)
    }

    public static func unauthorized(_ message: String = "authentication failed") -> WebhookRejection {
        WebhookRejection(status: 401, code: "unauthorized", message: message)
    }

    public static func forbidden(_ message: String) -> WebhookRejection {
        WebhookRejection(status: 403, code: "forbidden", message: message)
    }

    public static func notFound(_ message: String) -> WebhookRejection {
        WebhookRejection(status: 404, code: "not_found", message: message)
    }

    public static func unsupportedMediaType(_ got: String?, expected: [String]) -> WebhookRejection {
        WebhookRejection(
            status: 415, code: "unsupported_media_type",
            // The client's text, shortened: it goes into the answer and the log.
            message: "content type \(got.map { "\"\(String($0.withoutControlCharacters.prefix(64)))\"" } ?? "missing"); expected \(expected.joined(separator: " or "))"
        )
    }
}
