extension Substring.UTF8View {
    /// Without leading and trailing spaces and tabs (the optional whitespace around HTTP
    /// header values), on bytes: header values and phone numbers are trimmed per webhook.
    public var trimmingASCIIWhitespace: Substring.UTF8View {
        var text = self
        while let first = text.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { text = text.dropFirst() }
        while let last = text.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { text = text.dropLast() }
        return text
    }
}

extension StringProtocol {
    /// Trims spaces and tabs only (header values), without Foundation.
    public var trimmingASCIIWhitespace: String {
        String(decoding: Substring(self).utf8.trimmingASCIIWhitespace, as: UTF8.self)
    }
}
