import Foundation
import Testing
import TickwireCore

/// The shared corpus of real provider payloads and the reviewed golden outputs.
enum ProviderCorpus {
    static let repositoryRoot = URL(fileURLWithPath: RepositoryFiles.root)
    static let corpus = URL(fileURLWithPath: RepositoryFiles.corpus).standardized
    static let goldens = repositoryRoot.appendingPathComponent("Tests/TickwireTests/Golden")

    /// Names (without `.json`) of the corpus files of `provider`; throws when the corpus is
    /// missing, so that the golden tests fail instead of passing on nothing.
    static func names(_ provider: String) throws -> [String] {
        let folder = corpus.appendingPathComponent(provider)
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            throw CorpusError("corpus folder not found: \(folder.path) (../shared must sit beside the repository)")
        }
        let names = files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        guard !names.isEmpty else { throw CorpusError("no corpus files in \(folder.path)") }
        return names
    }

    static func body(_ provider: String, _ name: String) throws -> [UInt8] {
        try RepositoryFiles.corpusFile("\(provider)/\(name).json")
    }

    struct CorpusError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// Golden files: the normalized events of one corpus file as pretty CloudEvents JSON.
/// `TICKWIRE_UPDATE_GOLDEN=1 swift test …` rewrites them; review the diff before committing.
enum Golden {
    /// A fixed arrival time, so that `received_at` (and times that fall back to it) are stable.
    static let receivedAt = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
    static var updating: Bool { ProcessInfo.processInfo.environment["TICKWIRE_UPDATE_GOLDEN"] == "1" }

    static func channel(_ provider: String) -> ChannelContext {
        ChannelContext(org: "acme", channel: provider, provider: provider)
    }

    static func request(body: [UInt8], contentType: String = "application/json", uri: String? = nil) -> WebhookRequest {
        WebhookRequest(
            method: .post, uri: uri ?? "/v1/webhooks/acme/test", headers: ["Content-Type": contentType],
            body: body, receivedAt: receivedAt)
    }

    static func render(_ events: [Event]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(JSONValue.array(events.map(\.cloudEvent)))) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Compares (or, when updating, writes) `Golden/<provider>/<name>.json`.
    static func check(_ events: [Event], provider: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = ProviderCorpus.goldens.appendingPathComponent("\(provider)/\(name).json")
        let actual = render(events)
        if updating {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("golden file missing: \(url.path) (run with TICKWIRE_UPDATE_GOLDEN=1 and review it)", sourceLocation: sourceLocation)
            return
        }
        #expect(actual == expected, "\(provider)/\(name): normalized events differ from the golden file", sourceLocation: sourceLocation)
    }

    /// Every corpus file of `provider` through `normalize`, compared with its golden file.
    static func checkCorpus(
        _ provider: String, sourceLocation: SourceLocation = #_sourceLocation, normalize: ([UInt8]) throws -> [Event]
    ) throws {
        let names = try ProviderCorpus.names(provider)
        for name in names {
            try check(try normalize(try ProviderCorpus.body(provider, name)), provider: provider, name: name, sourceLocation: sourceLocation)
        }
        checkNoStaleGoldens(provider: provider, names: names, sourceLocation: sourceLocation)
    }

    /// Golden files without a corpus file are stale: they must be removed with their source.
    static func checkNoStaleGoldens(provider: String, names: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let folder = ProviderCorpus.goldens.appendingPathComponent(provider)
        let goldens = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
        let stale = Set(goldens).subtracting(names)
        #expect(stale.isEmpty, "golden files without a corpus file: \(stale.sorted())", sourceLocation: sourceLocation)
    }
}

/// Twilio corpus files are JSON objects of form fields in their original order; this turns
/// them back into the `application/x-www-form-urlencoded` body Twilio would post.
enum FormFixture {
    /// The ordered (name, value) pairs of a flat JSON object whose values are strings.
    static func pairs(_ json: [UInt8]) throws -> [(String, String)] {
        var literals: [String] = []
        var index = 0
        while index < json.count {
            guard json[index] == UInt8(ascii: "\"") else { index += 1; continue }
            var end = index + 1
            while end < json.count, json[end] != UInt8(ascii: "\"") { end += json[end] == UInt8(ascii: "\\") ? 2 : 1 }
            literals.append(try JSONDecoder().decode(String.self, from: Data(json[index...min(end, json.count - 1)])))
            index = end + 1
        }
        guard literals.count % 2 == 0 else { throw ProviderCorpus.CorpusError("not a flat object of strings") }
        return stride(from: 0, to: literals.count, by: 2).map { (literals[$0], literals[$0 + 1]) }
    }

    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes all but unreserved characters; spaces become `+`, as browsers and
    /// Twilio send them.
    static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                result.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: " "): result.append("+")
            default: result += String(format: "%%%02X", byte)
            }
        }
        return result
    }
}

/// The namespace of every provider test suite (`swift test --filter Providers`).
enum Providers {}
