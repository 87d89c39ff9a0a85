extension String {
    /// The text without control characters (line breaks included): safe to put in an HTTP
    /// header or to echo in an error message.
    public var withoutControlCharacters: String {
        String(String.UnicodeScalarView(unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }))
    }
}
