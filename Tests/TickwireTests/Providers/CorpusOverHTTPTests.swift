import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TickwireCore
import TickwireServer
@testable import TickwireProviders

extension Providers {
    /// Every corpus payload through the real HTTP path (auth, adapter, journal, answer), each
    /// on a channel of its provider with that provider's real authentication.
    @Suite("Corpus over HTTP")
    struct CorpusOverHTTPTests {
        typealias FieldName = HTTPFields.Element.Name

        static let token = "corpus-token-0123456789"
        static let appSecret = "corpus-meta-app-secret"
        static let twilioToken = "corpus-twilio-token"
        static let twilioURL = "https://gw.example.org/v1/webhooks/acme/twilio"

        static func config(directory: String) -> String {
            """
            server: { listen: "127.0.0.1:0", max_body_bytes: 4194304 }
            storage: { directory: "\(directory)/data", durability: normal }
            include: []
            orgs:
              acme:
                channels:
                  gupshup:  { provider: gupshup,  auth: { type: token, token: "\(token)" } }
                  meta:     { provider: meta,     auth: { type: meta, app_secret: "\(appSecret)", verify_token: "verify" } }
                  twilio:   { provider: twilio,   public_url: "\(twilioURL)", auth: { type: twilio, auth_token: "\(twilioToken)" } }
                  unifonic: { provider: unifonic, auth: { type: token, token: "\(token)", header: X-Tickwire-Token } }
            """
        }

        /// The request each provider would send for a corpus file.
        static func request(provider: String, body: [UInt8]) throws -> (uri: String, headers: HTTPFields, body: [UInt8]) {
            let path = "/v1/webhooks/acme/\(provider)"
            var headers: HTTPFields = [.contentType: "application/json"]
            switch provider {
            case "meta":
                let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(appSecret.utf8)))
                headers[FieldName("X-Hub-Signature-256")!] = "sha256=" + Hex.encode(mac)
                return (path, headers, body)
            case "twilio":
                let pairs = try FormFixture.pairs(body)
                headers[.contentType] = "application/x-www-form-urlencoded"
                headers[FieldName("X-Twilio-Signature")!] =
                    TwilioSignature.compute(url: twilioURL, parameters: pairs.map { (name: $0.0, value: $0.1) }, authToken: twilioToken)
                return (path, headers, Array(FormFixture.encode(pairs).utf8))
            case "unifonic":
                headers[FieldName("X-Tickwire-Token")!] = token
                return (path, headers, body)
            default:
                return (path + "?token=" + token, headers, body)
            }
        }

        @Test func everyCorpusFileIsAcceptedWithTheAdaptersIDs() async throws {
            let directory = NSTemporaryDirectory() + "tickwire-corpus-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/config.yaml"
            try Self.config(directory: directory).write(toFile: path, atomically: true, encoding: .utf8)
            let config = try ConfigLoader(registry: .standard, environment: [:]).load(path: path)
            var logger = Logger(label: "corpus")
            logger.logLevel = .error
            let daemon = try await Daemon.open(config: config, logger: logger)
            let total = try ["gupshup", "meta", "twilio", "unifonic"].map { try ProviderCorpus.names($0).count }.reduce(0, +)
            #expect(total == 118)
            try await daemon.application().test(.live) { client in
                for provider in ["gupshup", "meta", "twilio", "unifonic"] {
                    let channel = try #require(config.orgs["acme"]?.channels[provider])
                    for name in try ProviderCorpus.names(provider) {
                        let (uri, headers, body) = try Self.request(provider: provider, body: try ProviderCorpus.body(provider, name))
                        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: body))
                        #expect(response.status == .ok, "\(provider)/\(name): \(String(buffer: response.body))")
                        let expected = try channel.adapter.normalize(
                            WebhookRequest(method: .post, uri: uri, headers: ["content-type": headers[.contentType] ?? ""], body: body),
                            channel: ChannelContext(org: "acme", channel: provider, provider: provider))
                        if provider == "twilio", expected.first?.data["message"] != nil {
                            #expect(String(buffer: response.body).contains("<Response>"), "\(name): TwiML expected")
                        } else {
                            let answer = try JSONValue.parse(Array(buffer: response.body))
                            #expect(answer["ids"] == .array(expected.map { .string($0.id) }), "\(provider)/\(name)")
                        }
                    }
                }
            }
            await daemon.close()
        }
    }
}
