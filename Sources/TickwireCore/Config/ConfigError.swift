/// A configuration problem at a place in a file: `plugins.d/acme.yaml:12: orgs.acme.channels.gs.auth: unknown key "tokn"`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; nil when the problem concerns the file as a whole.
    public var line: Int?
    /// Dotted key path (`orgs.acme.channels`); empty for the document root.
    public var path: String
    public var message: String

    public init(file: String, line: Int?, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return path.isEmpty ? "\(place): \(message)" : "\(place): \(path): \(message)"
    }
}

/// Several configuration problems, reported together so that one run shows them all.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A problem a config type or plugin finds in its own values; the loader adds the file,
/// line and key path of the mapping being decoded.
public struct ConfigIssue: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// String-valued enums in config: errors list the accepted values.
public protocol ConfigEnum: CaseIterable, RawRepresentable, Decodable where RawValue == String {}

extension ConfigEnum {
    static var acceptedValues: String { allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ") }
}
