import Foundation

/// Phone numbers in E.164 form (`+` and digits).
public enum PhoneNumber {
    /// `919876543210`, `+91 98765 43210`, `whatsapp:+919876543210` → `+919876543210`.
    /// Values that are not phone numbers (`callbackSetPhone`, business-scoped user ids,
    /// simulator ids like `9876543210_1`) give nil so that callers keep them as they are.
    public static func e164(_ raw: String?) -> String? {
        // On bytes, not Characters: this runs for every event, and the accepted text is ASCII.
        guard var text = raw?.utf8[...].trimmingASCIIWhitespace else { return nil }
        if let colon = text.firstIndex(of: UInt8(ascii: ":")) { text = text[text.index(after: colon)...] }
        guard !text.isEmpty else { return nil }
        var digits = [UInt8(ascii: "+")]
        for (offset, byte) in text.enumerated() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte)
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"): continue
            case UInt8(ascii: "+") where offset == 0: continue
            default: return nil
            }
        }
        guard (7...16).contains(digits.count) else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }
}
