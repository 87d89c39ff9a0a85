import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Unifonic adapter")
    struct UnifonicAdapterTests {
        let adapter = UnifonicAdapter(config: NoOptions())
        let channel = Golden.channel("unifonic")

        func normalize(_ text: String) throws -> [Event] {
            try adapter.normalize(Golden.request(body: Array(text.utf8)), channel: channel)
        }

        @Test func corpusMatchesGoldenFiles() throws {
            let names = try ProviderCorpus.names("unifonic")
            for name in names {
                let events = try adapter.normalize(Golden.request(body: try ProviderCorpus.body("unifonic", name)), channel: channel)
                try Golden.check(events, provider: "unifonic", name: name)
            }
            Golden.checkNoStaleGoldens(provider: "unifonic", names: names)
        }
    }
}
