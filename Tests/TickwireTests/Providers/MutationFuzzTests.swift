import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

/// A seeded random-mutation fuzz of every adapter's `normalize` over the whole corpus:
/// bytes flipped, cut, duplicated and spliced between files. Any outcome but a crash or a
/// hang is fine (events, or a 400). Bounded: a fixed number of mutations, a fixed seed, so a
/// failure reproduces; set TICKWIRE_FUZZ_ROUNDS for a longer run.
@Suite("Mutation fuzz of the adapters")
struct MutationFuzzTests {
    static let adapters: [(String, any ProviderAdapter, String)] = [
        ("gupshup", GupshupAdapter(config: NoOptions()), "application/json"),
        ("meta", MetaAdapter(config: NoOptions()), "application/json"),
        ("unifonic", UnifonicAdapter(config: NoOptions()), "application/json"),
        ("twilio", TwilioAdapter(config: NoOptions()), "application/x-www-form-urlencoded"),
    ]

    static let interesting: [[UInt8]] = [
        Array("\"".utf8), Array("{".utf8), Array("]".utf8), Array("null".utf8), Array("1e999".utf8),
        Array("-99999999999999999999999".utf8), Array("\\u0000".utf8), [0xFF, 0xFE], Array("%".utf8), Array("&=".utf8),
        Array(repeating: UInt8(ascii: "["), count: 300),
    ]

    func mutate(_ input: [UInt8], with other: [UInt8], random: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { return Self.interesting.randomElement(using: &random)! }
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...32, using: &random)))
            case 2: bytes.insert(contentsOf: Self.interesting.randomElement(using: &random)!, at: at)
            case 3: bytes = Array(bytes[..<at])
            case 4:
                let from = Int.random(in: 0..<max(other.count, 1), using: &random)
                bytes.insert(contentsOf: other[min(from, other.count)..<min(other.count, from + 64)], at: at)
            default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 16)], at: at)
            }
        }
        return bytes
    }

    /// nil when the body became events (which must serialize), else the refusal's status.
    static func rejectionStatus(_ adapter: any ProviderAdapter, _ request: WebhookRequest, provider: String) -> Int? {
        let result = Result { () throws(WebhookRejection) -> [Event] in try adapter.normalize(request, channel: Golden.channel(provider)) }
        switch result {
        case .success(let events):
            for event in events { _ = event.cloudEvent.serializedBytes() }
            return nil
        case .failure(let rejection):
            return rejection.status
        }
    }

    @Test func adaptersSurviveMutatedCorpusFiles() throws {
        let rounds = Int(ProcessInfo.processInfo.environment["TICKWIRE_FUZZ_ROUNDS"] ?? "") ?? 200
        var random = SeededRandom(seed: 0x7469_636B_7769_7265)
        var outcomes = (events: 0, rejected: 0)
        for (provider, adapter, contentType) in Self.adapters {
            let bodies = try ProviderCorpus.names(provider).map { name -> [UInt8] in
                let body = try ProviderCorpus.body(provider, name)
                // Twilio corpus files are JSON objects of form fields: post them as a form.
                return provider == "twilio" ? Array(FormFixture.encode(try FormFixture.pairs(body)).utf8) : body
            }
            for body in bodies {
                for _ in 0..<rounds {
                    let mutated = mutate(body, with: bodies.randomElement(using: &random)!, random: &random)
                    let request = Golden.request(body: mutated, contentType: contentType)
                    if let status = Self.rejectionStatus(adapter, request, provider: provider) {
                        #expect(status == 400)
                        outcomes.rejected += 1
                    } else {
                        outcomes.events += 1
                    }
                }
            }
        }
        #expect(outcomes.events > 0 && outcomes.rejected > 0, "the mutations reach both outcomes: \(outcomes)")
    }
}
