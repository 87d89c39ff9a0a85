import Crypto
import Foundation

/// Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, and `webhook-signature`
/// = `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), one per key.
struct WebhookSigner: Sendable {
    let keys: [SymmetricKey]
    /// Bytes a key must have (Standard Webhooks: 24 to 64).
    static let shortestKey = 24

    init(secrets: [String]) {
        keys = secrets.compactMap(Self.key(from:))
    }

    /// The key of a `whsec_…` secret (the prefix is optional), nil if it is not base64.
    static func key(from secret: String) -> SymmetricKey? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let data = Data(base64Encoded: encoded), !data.isEmpty else { return nil }
        return SymmetricKey(data: data)
    }

    func headers(id: String, timestamp: Int, body: [UInt8]) -> [(String, String)] {
        guard !keys.isEmpty else { return [] }
        let content = Array("\(id).\(timestamp).".utf8) + body
        let signatures = keys.map { key in
            "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: key)).base64EncodedString()
        }
        return [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signatures.joined(separator: " "))]
    }
}
