import TickwireCore

/// An `application/x-www-form-urlencoded` body: ordered (name, value) pairs, percent-decoded
/// with `+` as a space.
struct FormBody {
    let pairs: [(name: String, value: String)]

    /// nil when the bytes are not form syntax (a bad `%` escape, invalid UTF-8).
    init?(_ bytes: [UInt8]) {
        var pairs: [(String, String)] = []
        for field in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = field.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = parts.count > 1 ? Self.decode(parts[1]) : "" else { return nil }
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    /// How many fields `init` would read, counted without decoding them.
    static func fieldCount(_ bytes: [UInt8]) -> Int {
        var count = 0
        var inField = false
        for byte in bytes {
            if byte == UInt8(ascii: "&") {
                inField = false
            } else if !inField {
                inField = true
                count += 1
            }
        }
        return count
    }

    /// The first value of `name`.
    subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// The fields as a JSON object; a repeated name holds an array of its values, in order.
    var json: JSONValue {
        // Grouped first and sorted once by JSONObject, not inserted name by name into the
        // sorted object: a body with 100 000 names must not cost quadratic time.
        var grouped: [String: [JSONValue]] = [:]
        for (name, value) in pairs { grouped[name, default: []].append(.string(value)) }
        return .object(JSONObject(grouped.mapValues { $0.count == 1 ? $0[0] : .array($0) }))
    }

    static func decode(_ encoded: ArraySlice<UInt8>) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let byte = encoded[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < encoded.endIndex,
                    let hex = Hex.decode(String(decoding: encoded[(index + 1)...(index + 2)], as: UTF8.self))
                else { return nil }
                bytes.append(hex[0])
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
