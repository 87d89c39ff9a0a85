/// Where a config value was written, kept for checks that run after all files are merged
/// (a subscription naming a sink defined in another file).
public struct ConfigLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var path: String

    public var description: String { line.map { "\(file):\($0)" } ?? file }

    public func error(_ message: String, path: String? = nil) -> ConfigError {
        ConfigError(file: file, line: line, path: path ?? self.path, message: message)
    }
}

/// Implemented by the YAML decoder so that config types can record their location.
protocol LocatingDecoder {
    var location: ConfigLocation { get }
    /// The decoded node in canonical YAML, to tell whether a section changed on reload.
    var fingerprint: String { get }
    /// Records that the value at this decoder's path is a secret.
    func markSecret()
}

extension Decoder {
    var configFingerprint: String { (self as? LocatingDecoder)?.fingerprint ?? "" }

    var configLocation: ConfigLocation {
        (self as? LocatingDecoder)?.location
            ?? ConfigLocation(file: "<config>", line: nil, path: codingPath.map(\.stringValue).joined(separator: "."))
    }
}

extension KeyedDecodingContainer {
    /// Decodes a secret (a token, a password, a list or map of them). The loader refuses a
    /// secret that took the default written beside it in the file while the daemon listens
    /// beyond loopback: a plugin marks its secrets here, where it decodes them, so that no
    /// list of key names in the core has to know them.
    public func decodeSecret<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        (try superDecoder(forKey: key) as? LocatingDecoder)?.markSecret()
        return try decode(type, forKey: key)
    }

    public func decodeSecretIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeSecret(type, forKey: key)
    }
}
