import Foundation
import TickwireCore

/// `auth: {type: basic, username: "…", password: "…"}`: HTTP Basic credentials, for providers
/// whose console takes `https://user:pass@host/…` URLs or a fixed Authorization header.
public struct BasicAuthenticator: ChannelAuthenticator {
    public struct Config: Decodable, Sendable {
        public var username: String
        /// At least 12 characters.
        public var password: String

        enum CodingKeys: String, CodingKey { case username, password }

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            username = try c.decode(String.self, forKey: .username)
            password = try c.decodeSecret(String.self, forKey: .password)
            guard !username.isEmpty, !username.contains(":") else {
                throw ConfigIssue("username: must be non-empty and may not contain \":\"")
            }
            guard password.count >= 12 else { throw ConfigIssue("password: must be at least 12 characters long") }
        }
    }

    public static let name = "basic"

    let expected: [UInt8]

    public init(config: Config, channel: ChannelAuthContext) throws(ConfigIssue) {
        expected = Array("\(config.username):\(config.password)".utf8)
    }

    public func authenticate(_ request: WebhookRequest) throws(WebhookRejection) {
        guard let credentials = Self.credentials(in: request), ConstantTime.equals(credentials, expected) else {
            throw .unauthorized("missing or wrong basic credentials")
        }
    }

    /// The credentials are a header: all of the check needs no body.
    public func authenticateHead(_ request: WebhookRequest) throws(WebhookRejection) {
        try authenticate(request)
    }

    public var checksBody: Bool { false }

    /// The decoded `user:password` bytes of `Authorization: Basic …`.
    static func credentials(in request: WebhookRequest) -> [UInt8]? {
        guard let value = request.header("authorization") else { return nil }
        let parts = value.trimmingASCIIWhitespace.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: String(parts[1]).trimmingASCIIWhitespace)
        else { return nil }
        return Array(data)
    }
}
