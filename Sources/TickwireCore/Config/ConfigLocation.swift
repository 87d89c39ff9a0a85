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
}

extension Decoder {
    var configFingerprint: String { (self as? LocatingDecoder)?.fingerprint ?? "" }

    var configLocation: ConfigLocation {
        (self as? LocatingDecoder)?.location
            ?? ConfigLocation(file: "<config>", line: nil, path: codingPath.map(\.stringValue).joined(separator: "."))
    }
}
