import Foundation
import Yams

/// Decodes a `Decodable` type from a composed YAML node, strictly and with positions.
///
/// Unlike `YAMLDecoder`, every error carries the file, the line and the key path, and a
/// key that no type asked for is an error (Caddy-style strict config) instead of being
/// ignored. `${VAR}` and `${VAR:-default}` in scalars are read from the environment.
struct YAMLNodeDecoder {
    var file: String
    var environment: [String: String]
    var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// The value, and where a `${VAR:-default}` took its default (the variable unset).
    func decode<T: Decodable>(_ type: T.Type, from node: Node) throws -> (value: T, defaults: [DefaultedValue]) {
        let state = DecodingState(file: file, environment: environment)
        let decoder = NodeDecoder(node: node, codingPath: [], state: state, userInfo: userInfo)
        let value = try decoder.decodeChecked(T.self, node: node, codingPath: [])
        if let unknown = state.firstUnknownKey() { throw unknown }
        return (value, state.defaults.map { value in
            var value = value
            value.isSecret = state.isSecret(value.path)
            return value
        })
    }
}

/// A value written `${VAR:-default}` that took its default: where, and which variable.
struct DefaultedValue: Sendable {
    var file: String
    var line: Int?
    var path: String
    var variable: String
    /// Inside a value its type decoded as a secret (`decodeSecret`).
    var isSecret = false
}

/// Which keys of each mapping were asked for, to report the ones nobody asked for.
private final class DecodingState {
    let file: String
    let environment: [String: String]
    private var mappings: [(path: [String], mapping: Node.Mapping, requested: Set<String>, consumedAll: Bool)] = []
    private var indexByPath: [String: Int] = [:]
    private(set) var defaults: [DefaultedValue] = []
    /// Paths of values decoded as secrets; a secret list or map covers what is below it.
    private var secretPaths: [String] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    func error(_ message: String, at node: Node?, path: [CodingKey]) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line, path: Self.dotted(path), message: message)
    }

    static func dotted(_ path: [CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    func track(_ mapping: Node.Mapping, path: [CodingKey]) -> Int {
        let key = Self.dotted(path)
        if let index = indexByPath[key] { return index }
        mappings.append((path.map(\.stringValue), mapping, [], false))
        indexByPath[key] = mappings.count - 1
        return mappings.count - 1
    }

    func markSecret(_ path: [CodingKey]) { secretPaths.append(Self.dotted(path)) }

    func isSecret(_ path: String) -> Bool {
        secretPaths.contains { secret in
            path == secret || path.hasPrefix(secret + ".") || path.hasPrefix(secret + "[")
        }
    }

    func request(_ key: String, in index: Int) { mappings[index].requested.insert(key) }
    func consumeAll(_ index: Int) { mappings[index].consumedAll = true }

    func firstUnknownKey() -> ConfigError? {
        for entry in mappings where !entry.consumedAll {
            for (key, _) in entry.mapping {
                let name = key.string ?? ""
                guard !entry.requested.contains(name) else { continue }
                let expected = entry.requested.sorted().joined(separator: ", ")
                return ConfigError(
                    file: file, line: key.mark?.line, path: entry.path.joined(separator: "."),
                    message: "unknown key \"\(name)\"" + (expected.isEmpty ? "" : " (expected one of: \(expected))"))
            }
        }
        return nil
    }

    /// Replaces `${VAR}` and `${VAR:-default}`; an unset variable without default is an error.
    func substitute(_ text: String, node: Node, path: [CodingKey]) throws -> String {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw error("unterminated \"${\" in value", at: node, path: path)
            }
            let expression = rest[start.upperBound..<end]
            let (name, fallback): (Substring, Substring?) =
                if let sep = expression.range(of: ":-") {
                    (expression[..<sep.lowerBound], expression[sep.upperBound...])
                } else { (expression, nil) }
            guard Self.isVariableName(name) else {
                throw error("\"${\(name)\" is not an environment variable's name (letters, digits and _)", at: node, path: path)
            }
            // `${A:-${B}}` would end at the first `}` and keep "${B" as the text of the
            // value: a secret anyone reading the file can guess.
            if let fallback, fallback.contains("${") {
                throw error("the default of ${\(name)} cannot contain \"${\" (defaults are plain text)", at: node, path: path)
            }
            if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                // Mostly a secret read from a file with its trailing newline: accepted, every
                // request would be refused with 401. Named, never quoted.
                guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                    throw error("environment variable \(name) holds a line break or another control character (read from a file with its trailing newline?)", at: node, path: path)
                }
                result += value
            } else if let fallback {
                defaults.append(DefaultedValue(file: file, line: node.mark?.line, path: Self.dotted(path), variable: String(name)))
                result += fallback
            } else {
                throw error("environment variable \(name) is not set (write ${\(name):-default} for a default)", at: node, path: path)
            }
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    /// A POSIX shell variable name: letters, digits and `_`, not starting with a digit.
    static func isVariableName(_ name: Substring) -> Bool {
        func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") || byte == UInt8(ascii: "_") }
        guard let first = name.utf8.first, isLetter(first) else { return false }
        return name.utf8.allSatisfy { isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}

private struct NodeDecoder: Decoder, LocatingDecoder {
    let node: Node
    let codingPath: [CodingKey]
    let state: DecodingState
    let userInfo: [CodingUserInfoKey: Any]

    init(node: Node, codingPath: [CodingKey], state: DecodingState, userInfo: [CodingUserInfoKey: Any]) {
        self.node = node
        self.codingPath = codingPath
        self.state = state
        self.userInfo = userInfo
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw state.error("expected a mapping (key: value pairs), got \(node.kindDescription)", at: node, path: codingPath)
        }
        let index = state.track(mapping, path: codingPath)
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self, mapping: mapping, trackIndex: index))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw state.error("expected a list, got \(node.kindDescription)", at: node, path: codingPath)
        }
        return UnkeyedNodeContainer(decoder: self, items: Array(sequence))
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        ScalarNodeContainer(decoder: self)
    }

    var location: ConfigLocation {
        ConfigLocation(file: state.file, line: node.mark?.line, path: DecodingState.dotted(codingPath))
    }

    var fingerprint: String { (try? Yams.serialize(node: node, sortKeys: true)) ?? "" }

    func markSecret() { state.markSecret(codingPath) }

    func child(_ node: Node, key: CodingKey) -> NodeDecoder {
        NodeDecoder(node: node, codingPath: codingPath + [key], state: state, userInfo: userInfo)
    }

    /// Decodes `T` from `node`, turning any error without a position into one with it.
    func decodeChecked<T: Decodable>(_ type: T.Type, node: Node, codingPath: [CodingKey]) throws -> T {
        let decoder = NodeDecoder(node: node, codingPath: codingPath, state: state, userInfo: userInfo)
        do {
            if let enumType = T.self as? any ConfigEnum.Type {
                let text = try decoder.scalarText()
                guard let value = enumType.init(rawValue: text) else {
                    throw state.error("\"\(text)\" is not valid: expected one of \(enumType.acceptedValues)", at: node, path: codingPath)
                }
                return value as! T
            }
            return try T(from: decoder)
        } catch let error as ConfigError {
            throw error
        } catch let error as ConfigErrors {
            throw error
        } catch let issue as ConfigIssue {
            throw state.error(issue.message, at: node, path: codingPath)
        } catch let error as DecodingError {
            throw state.error(error.plainMessage, at: node, path: codingPath)
        } catch {
            throw state.error("\(error)", at: node, path: codingPath)
        }
    }

    func scalarText() throws -> String {
        guard case .scalar(let scalar) = node else {
            throw state.error("expected a single value, got \(node.kindDescription)", at: node, path: codingPath)
        }
        return try state.substitute(scalar.string, node: node, path: codingPath)
    }

    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let mapping: Node.Mapping
    let trackIndex: Int

    var codingPath: [CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        // Whoever lists the keys (a dictionary) takes them all.
        decoder.state.consumeAll(trackIndex)
        return mapping.keys.compactMap { $0.string.flatMap(Key.init(stringValue:)) }
    }

    /// Asking counts as knowing the key: Foundation's `decodeIfPresent` for `String`, `Int`
    /// and `Bool` checks `contains` first, and an absent optional key must still be listed in
    /// an unknown key's "expected one of".
    func contains(_ key: Key) -> Bool {
        decoder.state.request(key.stringValue, in: trackIndex)
        return value(for: key) != nil
    }

    private func value(for key: Key) -> Node? {
        mapping.first(where: { $0.key.string == key.stringValue })?.value
    }

    private func require(_ key: Key) throws -> Node {
        decoder.state.request(key.stringValue, in: trackIndex)
        guard let node = value(for: key) else {
            // A required key is most often missing because it is misspelled: say so.
            if let typo = mapping.keys.first(where: { candidate in
                guard let name = candidate.string else { return false }
                return name != key.stringValue && Self.editDistance(name, key.stringValue) <= 2
            }) {
                throw decoder.state.error(
                    "unknown key \"\(typo.string ?? "")\" (did you mean \"\(key.stringValue)\"?)", at: typo, path: codingPath)
            }
            throw decoder.state.error("missing required key \"\(key.stringValue)\"", at: .mapping(mapping), path: codingPath)
        }
        return node
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        decoder.state.request(key.stringValue, in: trackIndex)
        guard let node = value(for: key) else { return true }
        return decoder.child(node, key: key).isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let node = try require(key)
        return try decoder.decodeChecked(T.self, node: node, codingPath: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        decoder.state.request(key.stringValue, in: trackIndex)
        guard let node = value(for: key), !decoder.child(node, key: key).isNull else { return nil }
        return try decoder.decodeChecked(T.self, node: node, codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.child(try require(key), key: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try decoder.child(try require(key), key: key).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { decoder }

    func superDecoder(forKey key: Key) throws -> Decoder { decoder.child(try require(key), key: key) }
}

private struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [Node]
    var currentIndex = 0

    init(decoder: NodeDecoder, items: [Node]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private var indexKey: CodingKey { IndexKey(intValue: currentIndex) }

    mutating func next() throws -> Node {
        guard !isAtEnd else {
            throw decoder.state.error("list has too few items", at: decoder.node, path: codingPath)
        }
        defer { currentIndex += 1 }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, decoder.child(items[currentIndex], key: indexKey).isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let key = indexKey
        return try decoder.decodeChecked(T.self, node: try next(), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let key = indexKey
        return try decoder.child(try next(), key: key).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let key = indexKey
        return try decoder.child(try next(), key: key).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let key = indexKey
        return decoder.child(try next(), key: key)
    }
}

private struct ScalarNodeContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.isNull }

    private func fail(_ expected: String) -> ConfigError {
        decoder.state.error("expected \(expected), got \(decoder.node.kindDescription)", at: decoder.node, path: codingPath)
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch try decoder.scalarText().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail("true or false")
        }
    }

    func decode(_ type: String.Type) throws -> String { try decoder.scalarText() }

    func decode(_ type: Double.Type) throws -> Double {
        guard let value = Double(try decoder.scalarText()) else { throw fail("a number") }
        return value
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let text = try decoder.scalarText().replacingOccurrences(of: "_", with: "")
        guard let value = T(text) else { throw fail("an integer") }
        return value
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.decodeChecked(T.self, node: decoder.node, codingPath: codingPath)
    }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "[\(intValue ?? 0)]" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

extension Node {
    fileprivate var kindDescription: String {
        switch self {
        case .scalar(let scalar): scalar.string.isEmpty ? "an empty value" : "a single value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

extension DecodingError {
    /// The message without Foundation's coding-path dump (the path is reported separately).
    fileprivate var plainMessage: String {
        switch self {
        case .dataCorrupted(let context), .keyNotFound(_, let context),
            .typeMismatch(_, let context), .valueNotFound(_, let context):
            return context.debugDescription
        @unknown default:
            return "\(self)"
        }
    }
}
