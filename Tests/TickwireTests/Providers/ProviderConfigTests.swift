import Foundation
import Testing
import TickwireCore
import TickwireServer
@testable import TickwireProviders

extension Providers {
    /// Channel YAML for every provider and auth type, through the strict config loader.
    @Suite("Provider config")
    struct ProviderConfigTests {
        static let environment = [
            "META_SECRET": "meta-app-secret-0123456789", "TWILIO_TOKEN": "twilio-token-0123456789",
            "GS_TOKEN": "gs-token-0123456789abc", "UF_PASSWORD": "unifonic-password-0123",
        ]

        static func yaml(_ channels: String) -> String {
            """
            storage: { directory: data }
            include: []
            orgs:
              acme:
                channels:
            \(channels)
            """
        }

        static let valid = yaml("""
                  gupshup:  { provider: gupshup,  auth: { type: token, token: "${GS_TOKEN}", header: X-Gs-Token } }
                  meta:     { provider: meta,     auth: { type: meta, app_secrets: [ "${META_SECRET}", "old-meta-secret" ], verify_token: "v" } }
                  twilio:   { provider: twilio,   public_url: "https://gw.example.org/v1/webhooks/acme/twilio",
                              auth: { type: twilio, auth_token: "${TWILIO_TOKEN}" } }
                  unifonic: { provider: unifonic, auth: { type: basic, username: unifonic, password: "${UF_PASSWORD}" } }
                  open:     { provider: unifonic, auth: { type: none } }
            """)

        func load(_ text: String) throws(ConfigErrors) -> Config {
            let directory = NSTemporaryDirectory() + "tickwire-providers-" + UUID().uuidString
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/config.yaml"
            try? text.write(toFile: path, atomically: true, encoding: .utf8)
            return try ConfigLoader(registry: .standard, environment: Self.environment).load(path: path)
        }

        func errors(_ text: String) -> [ConfigError] {
            do {
                _ = try load(text)
                return []
            } catch {
                return error.errors
            }
        }

        @Test func everyProviderAndAuthTypeIsRegistered() {
            let registry = Registry.standard
            #expect(registry.providerNames == ["gupshup", "meta", "twilio", "unifonic"])
            #expect(registry.authNames == ["basic", "meta", "none", "token", "twilio"])
        }

        @Test func validChannelsLoad() throws {
            let channels = try load(Self.valid).orgs["acme"]?.channels ?? [:]
            #expect(channels["twilio"]?.mediaTypes == ["application/x-www-form-urlencoded"])
            #expect(channels["meta"]?.authType == "meta")
            #expect(channels.count == 5)
        }

        @Test(arguments: [
            (#"twilio: { provider: twilio, auth: { type: twilio, auth_token: "${TWILIO_TOKEN}" } }"#, "public_url"),
            (#"meta: { provider: meta, auth: { type: meta, app_secret: "a", app_secrets: ["b"], verify_token: "v" } }"#, "not both"),
            (#"meta: { provider: meta, auth: { type: meta, verify_token: "v" } }"#, "app_secret"),
            (#"meta: { provider: meta, auth: { type: meta, app_secret: "", verify_token: "v" } }"#, "app_secret: must be non-empty"),
            (#"meta: { provider: meta, auth: { type: meta, app_secrets: [], verify_token: "v" } }"#, "app_secrets: at least one is required"),
            (#"meta: { provider: meta, auth: { type: meta, app_secret: "${META_SECRET}", verify_tokn: "v" } }"#, "unknown key \"verify_tokn\""),
            (#"gs: { provider: gupshup, auth: { type: token, token: "short" } }"#, "at least 16"),
            (#"gs: { provider: gupshup, auth: { type: token } }"#, "token"),
            (#"gs: { provider: gupshup, options: 1, auth: { type: none } }"#, "unknown key \"options\""),
            (#"uf: { provider: unifonic, auth: { type: basic, username: "u", password: "short" } }"#, "at least 12"),
            (#"uf: { provider: unifonic, auth: { type: none, token: "x" } }"#, "unknown key \"token\""),
        ])
        func mistakesAreReportedWithTheirPlace(channel: String, expected: String) {
            let errors = errors(Self.yaml("      " + channel))
            #expect(errors.count == 1)
            #expect(errors.first?.line != nil)
            #expect(errors.first?.description.contains(expected) == true, "\(errors)")
            #expect(errors.first?.path.hasPrefix("orgs.acme.channels.") == true)
            for secret in Self.environment.values {
                #expect(errors.first?.description.contains(secret) == false)
            }
        }
    }
}
