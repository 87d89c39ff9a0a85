extension String {
    /// Whether the text is an HTTP token (RFC 9110 `tchar`s, at least one): a valid header name.
    public var isHTTPToken: Bool {
        !isEmpty && unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar))
        }
    }
}
