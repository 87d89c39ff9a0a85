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
            hasher.update(data: Array(String(part == nil ? -1 : bytes.count).utf8) + [UInt8(ascii: ":")])
            hasher.update(data: bytes)
        }
        let digest = hasher.finalize()
        // 128 bits is plenty against collisions and keeps ids short. (String(format:) went
        // through CoreFoundation and showed in the ingest profile.)
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(32)
        for byte in digest.prefix(16) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
