import Foundation

/// A JSON document as a value: provider payloads, event `data`, raw bodies.
///
/// Integers and floating-point numbers are kept apart so that ids and timestamps sent as
/// big integers survive a round trip unchanged.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

extension JSONValue {
    /// Parses a complete JSON text (RFC 8259, UTF-8); throws on anything else, with the
    /// byte offset of the problem.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        var parser = JSONParser(Array(bytes))
        return try parser.parseDocument()
    }

    /// Parses JSON this process wrote itself (a stored event): it may wrap a provider's body,
    /// accepted at the input limit, a few levels deeper.
    static func parseStored(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = JSONParser(bytes, maxDepth: JSONParser.maxDepth + 16)
        return try parser.parseDocument()
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// The value as text: strings as they are, numbers in their decimal form, nil otherwise.
    /// Providers send the same field as a number in one payload and a string in another.
    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        default: return nil
        }
    }

    /// Non-empty text, for ids where `""` means "absent".
    public var nonEmptyString: String? {
        guard let s = stringValue, !s.isEmpty else { return nil }
        return s
    }

    /// The value as a number, accepting numeric strings.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s):
            // Foundation's trimming cost a microsecond per provider timestamp; most need none.
            guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last,
                Self.isBlank(first) || Self.isBlank(last)
            else { return Double(s) }
            return Double(s.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }

    /// What `CharacterSet.whitespaces` holds: spaces (category Zs) and the tab.
    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator
    }

    /// The value as a boolean, accepting `"true"` / `"false"`.
    public var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .string(let s): return s == "true" ? true : s == "false" ? false : nil
        default: return nil
        }
    }

    public var isNull: Bool { self == .null }
}

// MARK: - Building

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }

    /// An object of the members that are not null: optional fields left out.
    public static func compactObject(_ members: JSONObject) -> JSONValue { .object(members.withoutNulls) }

    /// `.string(s)` or `.null` for nil: optional fields become explicit nulls.
    public init(_ string: String?) { self = string.map(JSONValue.string) ?? .null }
}

// MARK: - Codable, for embedding in Codable types

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let i = try? container.decode(Int64.self) { self = .int(i) }
        else if let d = try? container.decode(Double.self) { self = .double(d) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(JSONObject(try container.decode([String: JSONValue].self))) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(Dictionary(uniqueKeysWithValues: o.lazy.map { ($0.key, $0.value) }))
        }
    }
}

// MARK: - Serializing

extension JSONValue {
    /// Compact JSON with sorted keys, so equal values always serialize to equal bytes.
    public func serialized() -> Data {
        Data(serializedBytes())
    }

    public func serializedBytes() -> [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }

    public func serializedString() -> String {
        String(decoding: serializedBytes(), as: UTF8.self)
    }
}
