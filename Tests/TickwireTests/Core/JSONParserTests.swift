import Foundation
import Testing
@testable import TickwireCore

@Suite("JSON parser and writer")
struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(#"{"a":[1,-2,3.5,1e3,true,false,null],"s":"x\"\\\/\n\u00e9\ud83d\ude00","big":123456789012345678901,"e":{}}"#)
        #expect(value["a"] == [1, -2, 3.5, 1000.0, true, false, nil])
        #expect(value["s"] == "x\"\\/\né😀")
        #expect(value["big"] == .double(123456789012345678901))
        #expect(value["e"] == .object([:]))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "+1", "tru", "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"",
        "{\"a\" 1}", "[1] 2", "1e400", "'a'", "NaN",
    ])
    func refusesInvalidText(_ text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: (any Error).self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        // Overlong "/" and a lone continuation byte, without escapes (the fast path).
        #expect(throws: (any Error).self) { try JSONValue.parse([0x22, 0xC0, 0xAF, 0x22]) }
        #expect(throws: (any Error).self) { try JSONValue.parse([0x22, 0x61, 0x80, 0x22]) }
        #expect((try? JSONValue.parse(Array(#"{"ünï":"é😀 ok"}"#.utf8))) == ["ünï": "é😀 ok"])
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: (any Error).self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }

    @Test func writerRoundTripsAndSortsKeys() throws {
        let value: JSONValue = ["b": 1, "a": ["x": 2.5, "y": 2.0], "c": "q\"\u{7}\n", "d": nil, "e": [true, -9]]
        let text = value.serializedString()
        #expect(text == #"{"a":{"x":2.5,"y":2.0},"b":1,"c":"q\"\u0007\n","d":null,"e":[true,-9]}"#)
        #expect(try JSONValue.parse(text) == value)
        // Foundation agrees that the output is JSON.
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }

    /// Integers are formatted digit by digit and the output grows past its first 1 KiB.
    @Test func writerFormatsIntegerExtremesAndGrowsItsBuffer() throws {
        let numbers: JSONValue = [.int(0), .int(7), .int(-7), .int(10), .int(Int64.max), .int(Int64.min), .double(-3.0), .double(1e20)]
        #expect(numbers.serializedString() == "[0,7,-7,10,9223372036854775807,-9223372036854775808,-3.0,1e+20]")
        #expect(try JSONValue.parse(numbers.serializedString()) == numbers)
        let large = JSONValue.array((0..<3_000).map { .string("item \($0) \u{1F}") })
        let text = large.serializedString()
        #expect(text.utf8.count > 30_000)
        #expect(try JSONValue.parse(text) == large)
    }

    /// The writer tests eight bytes at a time for what must be escaped: every byte value at
    /// every position, among neighbours that could upset the word arithmetic (borrows from
    /// 0x00, 0x20, 0x80 and 0xFF).
    @Test func escapeScanFindsEveryByteThatNeedsEscaping() {
        var missed: [String] = []
        for filler: UInt8 in [0x61, 0x00, 0x1F, 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF] {
            let fillerNeeds = filler < 0x20
            for byte in UInt8.min...UInt8.max {
                let needs = byte < 0x20 || byte == 0x22 || byte == 0x5C
                for position in 0..<17 {
                    var buffer = [UInt8](repeating: filler, count: 17)
                    buffer[position] = byte
                    let found = buffer.withUnsafeBufferPointer { JSONWriter.needsEscaping($0) }
                    if found != (needs || fillerNeeds) { missed.append("byte \(byte) at \(position) among \(filler)") }
                }
            }
        }
        #expect(missed.isEmpty, "\(missed.prefix(5))")
        #expect([UInt8]().withUnsafeBufferPointer { JSONWriter.needsEscaping($0) } == false)
    }

    @Test func stringsOfEveryLengthRoundTripWithEscapes() throws {
        for length in 1..<20 {
            for position in 0..<length {
                for special in ["\"", "\\", "\n", "\u{1}", "\u{1F}", "é"] {
                    var text = String(repeating: "a", count: length - 1)
                    text.insert(contentsOf: special, at: text.index(text.startIndex, offsetBy: position))
                    let written = JSONValue.string(text).serializedString()
                    #expect(try JSONValue.parse(written) == .string(text), "\(written)")
                }
            }
        }
    }

    @Test func toleratesAByteOrderMark() throws {
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8)) == .object([:]))
    }

    /// Providers send epoch times as numbers or as numeric strings, sometimes padded.
    @Test(arguments: [
        ("1750263773", 1_750_263_773.0), (" 1750263773\t", 1_750_263_773.0), ("\u{00A0}12", 12), ("12.5", 12.5), ("1e3", 1000),
    ])
    func numericStringsAreNumbers(text: String, expected: Double) {
        #expect(JSONValue.string(text).doubleValue == expected)
    }

    @Test(arguments: ["", " ", "abc", "12 34", "12\n"])
    func otherStringsAreNot(text: String) {
        #expect(JSONValue.string(text).doubleValue == nil)
    }
}
