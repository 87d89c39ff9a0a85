import Foundation

/// Phone numbers in E.164 form (`+` and digits).
public enum PhoneNumber {
    /// `919876543210`, `+91 98765 43210`, `whatsapp:+919876543210` → `+919876543210`.
    /// Values that are not phone numbers (`callbackSetPhone`, business-scoped user ids,
    /// simulator ids like `9876543210_1`) give nil so that callers keep them as they are.
    public static func e164(_ raw: String?) -> String? {
        guard var text = raw?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let colon = text.firstIndex(of: ":") { text = String(text[text.index(after: colon)...]) }
        let digits = text.filter { $0 != " " && $0 != "-" && $0 != "(" && $0 != ")" && $0 != "+" }
        guard (6...15).contains(digits.count), digits.allSatisfy(\.isASCIIDigit) else { return nil }
        guard text.filter({ $0 == "+" }).count <= 1, !text.dropFirst().contains("+") else { return nil }
        return "+" + digits
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
