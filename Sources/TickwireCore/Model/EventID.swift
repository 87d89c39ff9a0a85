import Crypto
import Foundation

/// Deterministic event ids (DESIGN §2).
///
/// The id is a hash of the fields that identify one provider notification: org, channel,
/// provider, type, message id, native status and the provider's event time. Envelope fields
/// that change between retries (Gupshup's `timestamp`) must not be passed in.
public enum EventID {
    public static func make(_ parts: [String?]) -> String {
        var hasher = SHA256()
        for part in parts {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ; nil differs from "".
            let bytes = Array((part ?? "").utf8)
            hasher.update(data: Array("\(part == nil ? -1 : bytes.count):".utf8))
            hasher.update(data: bytes)
        }
        let digest = hasher.finalize()
        // 128 bits is plenty against collisions and keeps ids short.
        return digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
