import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Gupshup adapter")
    struct GupshupAdapterTests {
        let adapter = GupshupAdapter(config: NoOptions())
        let channel = Golden.channel("gupshup")

        func normalize(_ body: [UInt8]) throws -> [Event] {
            try adapter.normalize(Golden.request(body: body), channel: channel)
        }

        func normalize(_ text: String) throws -> [Event] { try normalize(Array(text.utf8)) }

        @Test func corpusMatchesGoldenFiles() throws {
            let names = try ProviderCorpus.names("gupshup")
            for name in names {
                try Golden.check(try normalize(try ProviderCorpus.body("gupshup", name)), provider: "gupshup", name: name)
            }
            Golden.checkNoStaleGoldens(provider: "gupshup", names: names)
        }
    }
}
