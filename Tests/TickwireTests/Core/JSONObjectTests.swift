import Foundation
import Testing
@testable import TickwireCore

@Suite("JSON objects")
struct JSONObjectTests {
    @Test func membersAreKeptInNameOrderWhateverTheInsertionOrder() {
        var built = JSONObject()
        for key in ["type", "id", "data", "org", "b", "a"] { built[key] = .string(key) }
        #expect(built.keys == ["a", "b", "data", "id", "org", "type"])
        let literal: JSONObject = ["org": "org", "a": "a", "type": "type", "id": "id", "b": "b", "data": "data"]
        #expect(built == literal)
        #expect(built.hashValue == literal.hashValue)
    }

    @Test func containsSeesNullMembersToo() throws {
        guard case .object(let object) = try JSONValue.parse(#"{"a":null,"c":1}"#) else { Issue.record("not an object"); return }
        #expect(object.contains(key: "a") && object.contains(key: "c"))
        #expect(!object.contains(key: "b") && !object.contains(key: "d") && !JSONObject().contains(key: "a"))
    }

    @Test func aRepeatedNameKeepsItsLastValue() throws {
        #expect(try JSONValue.parse(#"{"z":1,"a":2,"z":3,"a":4,"m":5}"#) == ["a": 4, "m": 5, "z": 3])
        #expect(JSONObject([("k", 1), ("k", 2), ("j", 0), ("k", 3)]) == ["j": 0, "k": 3])
    }

    /// Objects over 32 members take the other sort; both keep the last of a repeated name.
    @Test(arguments: [5, 32, 33, 2_000])
    func largeObjectsSortAndKeepTheLastValueToo(count: Int) throws {
        let names = (0..<count).map { "k\(($0 * 7919) % count)" }
        let text = "{" + (names + names.prefix(3)).enumerated().map { "\"\($0.element)\":\($0.offset)" }.joined(separator: ",") + "}"
        let object = try #require(try JSONValue.parse(text).objectValue)
        #expect(object.keys == Set(names).sorted())
        for (position, name) in names.prefix(3).enumerated() { #expect(object[name] == .int(Int64(count + position))) }
        #expect(object[names[count - 1]] == .int(Int64(count - 1)))
    }

    /// The small-object sort moves members as raw memory: every order, every run of repeated
    /// names, and values that own storage (strings, arrays) must come out as a dictionary
    /// with the last value per name would have them.
    @Test func smallObjectsSortLikeADictionaryKeepingTheLastValue() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<2_000 {
            let count = next(33)
            let members: [JSONObject.Member] = (0..<count).map { position in
                let name = "name-with-some-length-\(next(12))"
                return (name, position % 2 == 0 ? .string("value \(position) long enough to be stored apart") : .array([.int(Int64(position))]))
            }
            var expected: [String: JSONValue] = [:]
            for member in members { expected[member.key] = member.value }
            let object = JSONObject(members)
            #expect(object.keys == expected.keys.sorted())
            #expect(object.allSatisfy { expected[$0.key] == $0.value })
        }
    }

    @Test func settingNilRemovesAMemberAndNullIsAValue() {
        var object: JSONObject = ["a": 1, "b": nil, "c": 3]
        #expect(object["b"] == .some(.null))
        #expect(object["missing"] == nil)
        object["a"] = nil
        object["missing"] = nil
        #expect(object.keys == ["b", "c"])
        #expect(object.withoutNulls == ["c": 3])
        object.merge(["c": 4, "d": 5])
        #expect(object == ["b": nil, "c": 4, "d": 5])
    }

    /// Serialized bytes are part of the contract (journal, files, forwarders): the order must
    /// be the one the sorted dictionary gave, including names outside ASCII.
    @Test func serializesInTheOrderOfSortedStringKeys() throws {
        let names = ["é", "e", "Z", "a", "_x", "aa", "a_b", "10", "9", "ß", "\u{65}\u{301}", "😀", "zz"]
        var object = JSONObject()
        for (position, name) in names.enumerated() { object[name] = .int(Int64(position)) }
        // "é" and "e\u{301}" are one name to String, as they were to the dictionary.
        let expectedOrder = Set(names).sorted()
        #expect(expectedOrder.count == names.count - 1)
        #expect(object.keys == expectedOrder)
        let text = JSONValue.object(object).serializedString()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int])
        #expect(parsed.count == Set(names).count)
        #expect(try JSONValue.parse(text) == .object(object))
    }

    @Test func codableRoundTripsThroughFoundation() throws {
        let value: JSONValue = ["b": [1, "x", ["n": nil]], "a": 2.5]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }
}
