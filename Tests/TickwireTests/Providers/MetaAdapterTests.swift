import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Meta adapter")
    struct MetaAdapterTests {
        let adapter = MetaAdapter(config: NoOptions())
        let channel = Golden.channel("meta")

        func normalize(_ body: [UInt8]) throws -> [Event] {
            try adapter.normalize(Golden.request(body: body), channel: channel)
        }

        func normalize(_ text: String) throws -> [Event] { try normalize(Array(text.utf8)) }

        @Test func corpusMatchesGoldenFiles() throws {
            let names = try ProviderCorpus.names("meta")
            for name in names {
                try Golden.check(try normalize(try ProviderCorpus.body("meta", name)), provider: "meta", name: name)
            }
            Golden.checkNoStaleGoldens(provider: "meta", names: names)
        }
    }
}
