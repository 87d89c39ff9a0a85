import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Twilio adapter")
    struct TwilioAdapterTests {
        let adapter = TwilioAdapter(config: NoOptions())
        let channel = Golden.channel("twilio")

        func request(_ pairs: [(String, String)]) -> WebhookRequest {
            Golden.request(body: Array(FormFixture.encode(pairs).utf8), contentType: "application/x-www-form-urlencoded")
        }

        func normalize(_ pairs: [(String, String)]) throws -> [Event] {
            try adapter.normalize(request(pairs), channel: channel)
        }

        /// Corpus files are JSON objects of the form fields, in the order Twilio sent them.
        @Test func corpusMatchesGoldenFiles() throws {
            let names = try ProviderCorpus.names("twilio")
            for name in names {
                let pairs = try FormFixture.pairs(try ProviderCorpus.body("twilio", name))
                try Golden.check(try normalize(pairs), provider: "twilio", name: name)
            }
            Golden.checkNoStaleGoldens(provider: "twilio", names: names)
        }
    }
}
