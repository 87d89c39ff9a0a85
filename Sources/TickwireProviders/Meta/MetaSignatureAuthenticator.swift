import Crypto
import Foundation
import TickwireCore

/// `auth: {type: meta, app_secret: "…", verify_token: "…"}`: Meta's `X-Hub-Signature-256`
/// (HMAC-SHA256 of the raw body with the app secret) on POST, and the `hub.challenge`
/// handshake on GET (meta_cloud_api.md §1–§2).
public struct MetaSignatureAuthenticator: ChannelAuthenticator {
    public struct Config: Decodable, Sendable {
        /// The app secrets to accept: `app_secret`, or `app_secrets` while one is rotated.
        public var appSecrets: [String]
        /// The string typed into the App Dashboard with the callback URL.
        public var verifyToken: String

        enum CodingKeys: String, CodingKey {
            case appSecret = "app_secret"
            case appSecrets = "app_secrets"
            case verifyToken = "verify_token"
        }

        public init(appSecrets: [String], verifyToken: String) {
            self.appSecrets = appSecrets
            self.verifyToken = verifyToken
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            appSecrets = try SecretList.decode(c, one: .appSecret, many: .appSecrets)
            verifyToken = try c.decodeSecret(String.self, forKey: .verifyToken)
            guard !verifyToken.isEmpty else { throw ConfigIssue("verify_token: must be non-empty") }
        }
    }

    public static let name = "meta"

    /// One HMAC per app secret, keyed once: copying a keyed HMAC skips the key schedule
    /// (two extra SHA-256 blocks) that `HMAC(key:)` runs for every webhook.
    let keyedMACs: [HMAC<SHA256>]
    let verifyToken: [UInt8]

    public init(config: Config, channel: ChannelAuthContext) throws(ConfigIssue) {
        keyedMACs = config.appSecrets.map { HMAC<SHA256>(key: SymmetricKey(data: Array($0.utf8))) }
        verifyToken = Array(config.verifyToken.utf8)
    }

    /// Checked over the body bytes as received: Meta signs its own (escaped-unicode) bytes,
    /// which re-serialized JSON does not reproduce.
    public func authenticate(_ request: WebhookRequest) throws(WebhookRejection) {
        let mac = try Self.signature(in: request)
        var valid = false
        for keyed in keyedMACs {
            var hmac = keyed
            request.body.withUnsafeBytes { hmac.update(data: $0) }
            // swift-crypto's `==` against bytes compares in constant time.
            valid = (hmac.finalize() == mac) || valid
        }
        guard valid else { throw .unauthorized("X-Hub-Signature-256 does not match the body") }
    }

    /// A request without a well-formed signature header is refused before its body is read.
    public func authenticateHead(_ request: WebhookRequest) throws(WebhookRejection) {
        _ = try Self.signature(in: request)
    }

    /// The HMAC that `X-Hub-Signature-256: sha256=<hex>` carries (32 bytes).
    private static func signature(in request: WebhookRequest) throws(WebhookRejection) -> [UInt8] {
        guard let header = request.header("x-hub-signature-256") else {
            throw .unauthorized("missing X-Hub-Signature-256 header")
        }
        let value = header.trimmingASCIIWhitespace
        guard value.lowercased().hasPrefix("sha256="), let mac = Hex.decode(value.dropFirst(7)), mac.count == 32 else {
            throw .unauthorized("X-Hub-Signature-256 is not \"sha256=<hex>\"")
        }
        return mac
    }

    /// `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → the challenge as text.
    public func handshake(_ request: WebhookRequest) -> WebhookResponse? {
        let query = request.query
        guard query["hub.mode"] == "subscribe", let token = query["hub.verify_token"],
            ConstantTime.equals(Array(token.utf8), verifyToken), let challenge = query["hub.challenge"]
        else {
            return WebhookRejection.forbidden("verification failed: wrong hub.mode or hub.verify_token").response
        }
        return .text(challenge)
    }
}
