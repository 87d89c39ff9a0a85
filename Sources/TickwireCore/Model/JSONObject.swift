/// A JSON object: members with unique names, kept sorted by name.
///
/// Not a `Dictionary` because of how objects are used here: every webhook builds dozens of
/// small objects once, reads a few members and serializes them with sorted keys. A sorted
/// array builds without hashing or rehashing, serializes without sorting and is freed as one
/// buffer; with a dozen members a binary search finds a name in four comparisons. Parsing,
/// normalization and CloudEvents serialization spent a tenth of the daemon's CPU in
/// dictionary hashing and growth (bench/RESULTS.md).
///
/// Names compare as `String`s do, so the order, and the serialized bytes, are what the
/// sorted dictionary gave before.
public struct JSONObject: Sendable {
    public typealias Member = (key: String, value: JSONValue)

    /// Sorted by `key`, no key twice.
    private var members: [Member]

    public init() {
        members = []
    }

    /// Members in any order; a repeated name keeps its last value. Sorts in place: pass an
    /// array nothing else holds and no copy is made.
    public init(_ members: consuming [Member]) {
        var members = members
        if !isSortedAndUnique(members) {
            if members.count <= 32 {
                // Insertion sort: most objects are this small, and it is stable, so the last
                // of equal names stays last in its run. Members are moved as memory: shifting
                // them by assignment retained and released every name and value it passed.
                members.withUnsafeMutableBufferPointer { buffer in
                    guard let base = buffer.baseAddress else { return }
                    for end in buffer.indices.dropFirst() where buffer[end].key < buffer[end - 1].key {
                        let member = (base + end).move()
                        var slot = end - 1
                        while slot > 0, member.key < buffer[slot - 1].key { slot -= 1 }
                        (base + slot + 1).moveInitialize(from: base + slot, count: end - slot)
                        (base + slot).initialize(to: member)
                    }
                }
            } else {
                // Large objects (a hostile body can hold 100 000 names): n log n, with
                // position breaking ties so that the order stays stable.
                members = members.enumerated().sorted {
                    $0.element.key != $1.element.key ? $0.element.key < $1.element.key : $0.offset < $1.offset
                }.map(\.element)
            }
            // Keep the last of each run of equal names.
            var kept = 0
            for position in members.indices where position + 1 == members.count || members[position + 1].key != members[position].key {
                members.swapAt(kept, position)
                kept += 1
            }
            members.removeLast(members.count - kept)
        }
        self.members = members
    }

    public init(_ dictionary: [String: JSONValue]) {
        self.init(dictionary.map { ($0.key, $0.value) })
    }

    /// The value named `key`; setting nil removes the member.
    public subscript(key: String) -> JSONValue? {
        get {
            // Not a ternary: its `nil` would become JSONValue's nil literal, `.null`.
            let (position, found) = search(key)
            guard found else { return nil }
            return members[position].value
        }
        set {
            let (position, found) = search(key)
            if let newValue {
                if found { members[position].value = newValue } else { members.insert((key, newValue), at: position) }
            } else if found {
                members.remove(at: position)
            }
        }
    }

    public var keys: [String] { members.map(\.key) }

    /// Whether a member is named `key` (whatever its value, `null` included).
    public func contains(key: String) -> Bool { search(key).found }

    /// Adds `other`'s members, replacing existing ones.
    public mutating func merge(_ other: JSONObject) {
        for (key, value) in other.members { self[key] = value }
    }

    /// The members for which `isIncluded` holds (still sorted, so no sort again).
    public func filter(_ isIncluded: (Member) throws -> Bool) rethrows -> JSONObject {
        var result = JSONObject()
        result.members = try members.filter(isIncluded)
        return result
    }

    /// Drops the members whose value is `.null`, for compact event data.
    public var withoutNulls: JSONObject { filter { !$0.value.isNull } }

    /// Where `key` is, or where it would go.
    private func search(_ key: String) -> (position: Int, found: Bool) {
        var low = 0
        var high = members.count
        while low < high {
            let middle = (low + high) / 2
            let name = members[middle].key
            if name == key { return (middle, true) }
            if name < key { low = middle + 1 } else { high = middle }
        }
        return (low, false)
    }
}

private func isSortedAndUnique(_ members: [JSONObject.Member]) -> Bool {
    for position in members.indices.dropFirst() where !(members[position - 1].key < members[position].key) { return false }
    return true
}

extension JSONObject: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { members.count }
    public subscript(position: Int) -> Member { members[position] }
}

extension JSONObject: Hashable {
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.elementsEqual(rhs.members) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for (key, value) in members {
            hasher.combine(key)
            hasher.combine(value)
        }
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}

extension JSONObject: CustomStringConvertible {
    public var description: String { JSONValue.object(self).serializedString() }
}
