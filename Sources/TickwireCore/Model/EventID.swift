import Crypto
import Foundation

/// Deterministic event ids (DESIGN §2).
///
/// The id is a hash of the fields that identify one provider notification: org, channel,
/// provider, type, message id, native status and the provider's event time. Envelope fields
/// that change between retries (Gupshup's `timestamp`) must not be passed in.
public enum EventID {
    public static func make(_ parts: [String?]) -> String {
        // One buffer and one update: a small array per part showed in the ingest profile.
        var input: [UInt8] = []
        input.reserveCapacity(256)
        for part in parts {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ; nil differs from "".
            if let part {
                appendDecimal(part.utf8.count, to: &input)
                input.append(UInt8(ascii: ":"))
                input.append(contentsOf: part.utf8)
            } else {
                input.append(contentsOf: "-1:".utf8)
            }
        }
        let digest = SHA256.hash(data: input)
        // 128 bits is plenty against collisions and keeps ids short.
        return Hex.encode(digest.prefix(16))
    }

    private static func appendDecimal(_ number: Int, to bytes: inout [UInt8]) {
        if number >= 10 { appendDecimal(number / 10, to: &bytes) }
        bytes.append(UInt8(ascii: "0") + UInt8(number % 10))
    }
}
