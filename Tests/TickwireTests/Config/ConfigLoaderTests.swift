import Foundation
import Testing
@testable import TickwireCore
import TickwireServer

@Suite("Configuration loading")
struct ConfigLoaderTests {
    let directory: TemporaryDirectory
    let environment = ["GS_TOKEN": "gs-secret-token-1234", "API_KEY": "acme-api-key-0123456789"]

    init() throws {
        directory = try TemporaryDirectory()
    }

    func load(_ main: String, files: [String: String] = [:], environment: [String: String]? = nil) throws -> Config {
        let path = try directory.write("config.yaml", main)
        for (name, text) in files { try directory.write(name, text) }
        return try ConfigLoader(registry: .standard, environment: environment ?? self.environment).load(path: path)
    }

    func errors(_ main: String, files: [String: String] = [:], environment: [String: String]? = nil) -> [ConfigError] {
        do {
            _ = try load(main, files: files, environment: environment)
            Issue.record("expected the configuration to be refused")
            return []
        } catch let error as ConfigErrors {
            return error.errors
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    static let valid = """
        storage: { directory: data, durability: normal }
        sinks:
          archive: { type: file, path: "data/{org}/events.jsonl" }
        orgs:
          acme:
            api_keys: [ "${API_KEY}" ]
            channels:
              gs: { provider: gupshup, auth: { type: token, token: "${GS_TOKEN}" } }
            subscriptions:
              - { sink: archive, events: [ "message.*" ], channels: [ gs ] }
        """

    @Test func loadsAValidFileWithEnvironmentValues() throws {
        let config = try load(Self.valid)
        #expect(config.storage.durability == .normal)
        #expect(config.server.listen == "127.0.0.1:8080")
        #expect(config.orgs["acme"]?.apiKeys == ["acme-api-key-0123456789"])
        #expect(config.orgs["acme"]?.channels["gs"]?.provider == "gupshup")
        let subscription = try #require(config.subscriptions.first)
        #expect(subscription.id == "acme/archive")
        #expect(subscription.events?.map(\.description) == ["message.*"])
    }

    @Test func misspelledKeyNamesFileLineAndPath() throws {
        let text = Self.valid.replacingOccurrences(of: "token: \"${GS_TOKEN}\"", with: "tokn: \"${GS_TOKEN}\"")
        let errors = errors(text)
        let error = try #require(errors.first)
        #expect(error.file.hasSuffix("config.yaml"))
        #expect(error.line == 8)
        #expect(error.path == "orgs.acme.channels.gs.auth")
        #expect(error.message.contains("unknown key \"tokn\""))
        #expect(error.description.contains("config.yaml:8: orgs.acme.channels.gs.auth: unknown key \"tokn\""))
    }

    @Test func unknownTopLevelAndNestedKeys() throws {
        #expect(errors("srever: {}\n").first?.message.contains("unknown key \"srever\"") == true)
        let nested = errors("server: { listen: \"127.0.0.1:1\", max_body: 10 }\n")
        #expect(nested.first?.path == "server")
        #expect(nested.first?.line == 1)
    }

    @Test func loopbackListenAddresses() throws {
        // The daemon warns at start when /metrics is reachable from elsewhere without a token.
        for (listen, loopback) in [("127.0.0.1:8080", true), ("[::1]:80", true), ("localhost:1", true), (":8080", false),
                                   ("0.0.0.0:80", false), ("10.0.0.5:80", false), ("127.example.org:80", false),
                                   ("127.1.2.3:80", true)] {
            #expect(try load("server: { listen: \"\(listen)\" }\n").server.listensOnLoopbackOnly == loopback, "\(listen)")
        }
    }

    @Test func wrongTypeAndMissingKey() throws {
        let wrongType = errors("server: { max_body_bytes: lots }\n")
        #expect(wrongType.first?.path == "server.max_body_bytes")
        #expect(wrongType.first?.message.contains("expected an integer") == true)
        let missing = errors("orgs:\n  acme:\n    channels:\n      gs: { auth: { type: none } }\n")
        #expect(missing.first?.path == "orgs.acme.channels.gs")
        #expect(missing.first?.message.contains("missing required key \"provider\"") == true)
        let zeroIdle = errors("server: { idle_timeout: 0s }\n")
        #expect(zeroIdle.first?.path == "server")
        #expect(zeroIdle.first?.message.contains("idle_timeout must be longer than zero") == true)
        // The limit plus what is read and thrown away overflowed an Int on the first chunk.
        let hugeBody = errors("server: { max_body_bytes: 9223372036854775807 }\n")
        #expect(hugeBody.first?.message.contains("max_body_bytes must be between 1 and 67108864") == true)
        #expect(try load("server: { max_body_bytes: 67108864 }\n").server.maxBodyBytes == 67_108_864)
        #expect(errors("server: { metrics_token: short }\n").first?.message.contains("metrics_token must be at least 16") == true)
        let badEnum = errors("storage: { durability: fast }\n")
        #expect(badEnum.first?.message.contains("\"full\", \"normal\"") == true)
    }

    @Test func unknownProviderAuthAndSinkTypes() throws {
        #expect(errors("orgs:\n  a:\n    channels:\n      c: { provider: nope, auth: { type: none } }\n")
            .first?.message.contains("unknown provider \"nope\"") == true)
        #expect(errors("orgs:\n  a:\n    channels:\n      c: { provider: gupshup, auth: { type: magic } }\n")
            .first?.message.contains("unknown type \"magic\"") == true)
        #expect(errors("sinks:\n  s: { type: kafka }\n").first?.message.contains("unknown sink type \"kafka\"") == true)
    }

    @Test func authMustBeWrittenOut() throws {
        let errors = errors("orgs:\n  a:\n    channels:\n      c: { provider: gupshup }\n")
        #expect(errors.first?.message.contains("missing required key \"auth\"") == true)
    }

    @Test func includedFilesAreMergedAndSubscriptionsSeeTheirSinks() throws {
        let main = """
            include: [ "plugins.d/*.yaml" ]
            orgs:
              acme:
                channels: { gs: { provider: gupshup, auth: { type: none } } }
                subscriptions: [ { sink: extra } ]
            """
        let config = try load(main, files: ["plugins.d/sinks.yaml": "sinks:\n  extra: { type: file, path: x.jsonl }\n"])
        #expect(config.sinks["extra"]?.type == "file")
        #expect(config.files.count == 2)
    }

    /// Patterns that overlap name a file twice, and `*.yaml` beside config.yaml names it
    /// too: each file is read once, not reported as defining everything twice.
    @Test func overlappingIncludesReadEachFileOnce() throws {
        let main = """
            include: [ "plugins.d/*.yaml", "plugins.d/sinks.yaml", "./plugins.d/../plugins.d/sinks.yaml", "*.yaml" ]
            orgs:
              acme:
                channels: { gs: { provider: gupshup, auth: { type: none } } }
                subscriptions: [ { sink: extra } ]
            """
        let config = try load(main, files: ["plugins.d/sinks.yaml": "sinks:\n  extra: { type: file, path: x.jsonl }\n"])
        #expect(config.files.count == 2)
    }

    /// A secret that takes the default written in the file (config.yaml's demo org) is
    /// public: refused when the daemon listens beyond loopback, named by key and variable,
    /// never quoted. On loopback, or with the variables set, the file loads.
    @Test func aDefaultedSecretIsRefusedBeyondLoopback() throws {
        let text = """
            server: { listen: "0.0.0.0:8080", max_body_bytes: "${MAX_BODY:-4096}" }
            orgs:
              acme:
                api_keys: [ "${ACME_KEY:-acme-api-key-change-me}" ]
                channels:
                  gs: { provider: gupshup, auth: { type: token, token: "${GS:-gs-token-change-me-0}" } }
            """
        let refused = errors(text, environment: [:])
        #expect(refused.map(\.path) == ["orgs.acme.api_keys[0]", "orgs.acme.channels.gs.auth.token"])
        #expect(refused.map(\.line) == [4, 6])
        #expect(refused.first?.message.contains("set ACME_KEY") == true)
        #expect(!refused.map(\.description).joined().contains("change-me"))
        // On loopback it loads, and the daemon is told which secrets to warn about (by key
        // and variable, never the value); with the variables set there are none.
        let onLoopback = try load(text.replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1"), environment: [:])
        #expect(onLoopback.defaultedSecrets.count == 2)
        #expect(onLoopback.defaultedSecrets.first?.hasSuffix(":4 orgs.acme.api_keys[0] (set ACME_KEY)") == true)
        #expect(!onLoopback.defaultedSecrets.joined().contains("change-me"))
        let set = try load(text, environment: ["ACME_KEY": "acme-api-key-0123456789", "GS": "gs-secret-token-1234"])
        #expect(set.orgs.count == 1 && set.defaultedSecrets.isEmpty)
    }

    /// Every secret of the standard plugins is marked where it is decoded: a defaulted one
    /// is refused beyond loopback, and a defaulted setting beside it (a URL, a user name) is
    /// not.
    @Test func everyStandardSecretIsMarked() throws {
        let text = """
            server: { listen: "0.0.0.0:8080", metrics_token: "${M:-metrics-token-change-me}" }
            sinks:
              console:
                type: http
                url: "${URL:-http://127.0.0.1:9/in}"
                secret: "${WH:-whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}"
                headers: { Authorization: "${AUTH:-Bearer change-me}" }
            orgs:
              acme:
                channels:
                  meta: { provider: meta, auth: { type: meta, app_secrets: ["${APP:-app-secret}"], verify_token: "${VT:-verify}" } }
                  tw: { provider: twilio, public_url: "https://h/x", auth: { type: twilio, auth_token: "${TW:-twilio-token}" } }
                  basic: { provider: unifonic, auth: { type: basic, username: "${USER:-u}", password: "${PW:-password-change-me}" } }
            """
        #expect(errors(text, environment: [:]).map(\.path).sorted() == [
            "orgs.acme.channels.basic.auth.password", "orgs.acme.channels.meta.auth.app_secrets[0]",
            "orgs.acme.channels.meta.auth.verify_token", "orgs.acme.channels.tw.auth.auth_token",
            "server.metrics_token", "sinks.console.headers.Authorization", "sinks.console.secret",
        ])
    }

    /// A plugin's own secret, under a key name the core has never heard of, is refused the
    /// same way once the plugin decodes it with `decodeSecret`.
    @Test func aPluginMarksItsOwnSecrets() throws {
        struct VaultAuth: ChannelAuthenticator {
            struct Config: Decodable, Sendable {
                var endpoint: String
                var unlockPhrase: String
                enum CodingKeys: String, CodingKey { case endpoint, unlockPhrase = "unlock_phrase" }
                init(from decoder: Decoder) throws {
                    let c = try decoder.container(keyedBy: CodingKeys.self)
                    endpoint = try c.decode(String.self, forKey: .endpoint)
                    unlockPhrase = try c.decodeSecret(String.self, forKey: .unlockPhrase)
                }
            }
            static let name = "vault"
            init(config: Config, channel: ChannelAuthContext) {}
            func authenticate(_ request: WebhookRequest) throws(WebhookRejection) {}
        }
        var registry = Registry.standard
        registry.register(auth: VaultAuth.self)
        let text = """
            server: { listen: "0.0.0.0:8080" }
            orgs:
              acme:
                channels:
                  gs: { provider: gupshup, auth: { type: vault, endpoint: "${EP:-http://vault}", unlock_phrase: "${PHRASE:-open sesame}" } }
            """
        let path = try directory.write("config.yaml", text)
        let refused = #expect(throws: ConfigErrors.self) { try ConfigLoader(registry: registry, environment: [:]).load(path: path) }
        #expect(refused?.errors.map(\.path) == ["orgs.acme.channels.gs.auth.unlock_phrase"])
        #expect(refused?.errors.first?.message.contains("set PHRASE") == true)
        #expect(try ConfigLoader(registry: registry, environment: ["PHRASE": "a real phrase"]).load(path: path).orgs.count == 1)
    }

    /// Retention also bounds how long a retry is known as one: `0s` would journal every
    /// late retry again.
    @Test func retentionHasAFloor() throws {
        let short = errors("storage: { retention: 0s }\n")
        #expect(short.first?.path == "storage", "\(short)")
        #expect(short.first?.message.contains("retention: must be at least 1h") == true)
        #expect(try load("storage: { retention: 1h }\n").storage.retention.duration == .seconds(3600))
    }

    /// A file named outright must exist (a typo would drop its orgs, and a reload would
    /// forget their subscriptions); a wildcard may match nothing (an empty plugins.d).
    @Test func aMissingIncludedFileIsAnError() throws {
        let named = errors("include: [ \"orgs/acme.yaml\" ]\n")
        #expect(named.first?.path == "include")
        #expect(named.first?.message.contains("\"orgs/acme.yaml\": no such file") == true)
        #expect(try load("include: [ \"orgs/*.yaml\", \"nowhere/*.yaml\" ]\n").files.count == 1)
    }

    @Test func nameDefinedInTwoFilesNamesBoth() throws {
        let main = "sinks:\n  dup: { type: file, path: a.jsonl }\n"
        let errors = errors(main, files: ["plugins.d/other.yaml": "\n\nsinks:\n  dup: { type: file, path: b.jsonl }\n"])
        let message = try #require(errors.first?.message)
        #expect(message.contains("config.yaml:2"))
        #expect(message.contains("plugins.d/other.yaml:4"))
    }

    @Test func errorsInIncludedFilesNameThatFile() throws {
        let errors = errors("{}\n", files: ["plugins.d/bad.yaml": "sinks:\n  s: { type: file, paht: x }\n"])
        #expect(errors.first?.file.hasSuffix("plugins.d/bad.yaml") == true)
        #expect(errors.first?.line == 2)
        #expect(errors.first?.path == "sinks.s")
    }

    @Test func subscriptionToUndefinedSinkOrChannel() throws {
        let main = """
            orgs:
              acme:
                channels: { gs: { provider: gupshup, auth: { type: none } } }
                subscriptions:
                  - { sink: nowhere }
                  - { sink: nowhere, name: two, channels: [ nochannel ] }
            """
        let errors = errors(main)
        #expect(errors.contains { $0.line == 5 && $0.message.contains("sink \"nowhere\" is not defined") })
        #expect(errors.contains { $0.message.contains("channel \"nochannel\" is not a channel") })
    }

    /// The org API reads one status store per org: a second subscription to one (filtered
    /// to a channel, say) would hold messages the API answers 404 for. Two orgs may share
    /// a store, and one org may subscribe twice to other sinks.
    @Test func anOrgSubscribesToOneStatusStoreAtMost() throws {
        let main = """
            sinks:
              store: { type: sqlite, path: data/store.sqlite }
              meta-store: { type: sqlite, path: data/meta.sqlite }
              archive: { type: file, path: data/events.jsonl }
            orgs:
              acme:
                channels: { gs: { provider: gupshup, auth: { type: none } } }
                subscriptions:
                  - { sink: store }
                  - { sink: meta-store, channels: [ gs ] }
              beta:
                channels: { gs: { provider: gupshup, auth: { type: none } } }
                subscriptions:
                  - { sink: store }
                  - { sink: archive }
                  - { sink: archive, name: again }
            """
        let errors = errors(main)
        #expect(errors.count == 1)
        #expect(errors.first?.line == 10)
        #expect(errors.first?.message.contains(#"org "acme" subscribes to more than one status store ("store", "meta-store")"#) == true)
    }

    @Test func environmentVariables() throws {
        let main = "server: { listen: \"${LISTEN:-127.0.0.1:9999}\" }\n"
        #expect(try load(main).server.listen == "127.0.0.1:9999")
        #expect(try load(main, environment: ["LISTEN": "0.0.0.0:1234"]).server.listen == "0.0.0.0:1234")
        let missing = errors("server: { listen: \"${NOPE}\" }\n", environment: [:])
        #expect(missing.first?.message.contains("NOPE is not set") == true)
    }

    /// Mistakes that would otherwise load as a guessable or never-matching secret: a nested
    /// default (kept as the text "${DEFAULT_TOKEN"), a name that is not one, a value read
    /// from a file with its newline. The value itself is never quoted.
    @Test func environmentMistakesAreErrorsAtTheirKey() throws {
        let text = Self.valid.replacingOccurrences(of: "token: \"${GS_TOKEN}\"", with: "token: \"${ACME_TOKEN:-${GS_TOKEN}}\"")
        let nested = errors(text)
        #expect(nested.count == 1)
        #expect(nested.first?.line == 8)
        #expect(nested.first?.path == "orgs.acme.channels.gs.auth.token")
        #expect(nested.first?.message.contains("cannot contain") == true)
        let badName = errors("server: { listen: \"${ LISTEN}\" }\n", environment: ["LISTEN": "127.0.0.1:1"])
        #expect(badName.first?.message.contains("is not an environment variable's name") == true)
        var environment = self.environment
        environment["GS_TOKEN"] = "gs-secret-token-1234\n"
        let newline = errors(Self.valid, environment: environment)
        #expect(newline.first?.path == "orgs.acme.channels.gs.auth.token")
        #expect(newline.first?.message.contains("GS_TOKEN holds a line break") == true)
        #expect(!newline.map(\.description).joined().contains("gs-secret-token-1234"))
    }

    @Test func secretsDoNotAppearInErrors() throws {
        let text = Self.valid.replacingOccurrences(of: "token: \"${GS_TOKEN}\"", with: "token: \"${GS_TOKEN}\", extra: 1")
        let all = errors(text).map(\.description).joined()
        #expect(!all.contains("gs-secret-token-1234"))
        #expect(all.contains("unknown key \"extra\""))
        // The optional `header`, absent here, is listed with the keys the auth type takes.
        #expect(all.contains("(expected one of: header, token, type)"))
    }

    @Test func yamlSyntaxErrorHasALine() throws {
        let errors = errors("server:\n  listen: [\n")
        #expect(errors.first?.line != nil)
        #expect(errors.first?.message.contains("YAML") == true)
    }

    @Test func badEventPatternAndDuration() throws {
        let main = """
            sinks: { s: { type: file, path: x } }
            orgs:
              a:
                subscriptions: [ { sink: s, events: [ "message.redd" ] } ]
            """
        #expect(errors(main).first?.message.contains("unknown event type \"message.redd\"") == true)
        #expect(throws: ConfigIssue.self) { try ConfigDuration("5 parsecs") }
        #expect(try ConfigDuration("1h30m").duration == .seconds(5400))
        #expect(try ConfigDuration("100ms").duration == .milliseconds(100))
    }

    @Test func theRepositoryDefaultConfigIsValid() throws {
        let config = try ConfigLoader(registry: .standard, environment: [:]).load(path: RepositoryFiles.root + "/config.yaml")
        #expect(config.orgs["demo"]?.channels["gupshup"] != nil)
        #expect(config.sinks["archive"]?.type == "file")
        #expect(config.files.count >= 2, "config.yaml includes at least one plugins.d file")
    }
}
