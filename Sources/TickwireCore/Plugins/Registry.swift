/// The set of provider adapters, channel auth types and sinks the daemon knows, each under
/// its YAML name. A plugin is a type plus one `register` line (see `Registry.standard` in
/// the server target).
public struct Registry: Sendable {
    struct ProviderEntry: Sendable {
        var mediaTypes: [String]
        var decode: @Sendable (Decoder) throws -> any ProviderAdapter
    }

    struct AuthEntry: Sendable {
        var decode: @Sendable (Decoder, ChannelAuthContext) throws -> any ChannelAuthenticator
    }

    struct SinkEntry: Sendable {
        var decode: @Sendable (Decoder, _ name: String) throws -> SinkDefinition
    }

    private(set) var providers: [String: ProviderEntry] = [:]
    private(set) var authenticators: [String: AuthEntry] = [:]
    private(set) var sinks: [String: SinkEntry] = [:]

    public init() {}

    public mutating func register<Adapter: ProviderAdapter>(provider: Adapter.Type) {
        precondition(providers[Adapter.name] == nil, "provider \(Adapter.name) registered twice")
        providers[Adapter.name] = ProviderEntry(mediaTypes: Adapter.mediaTypes) { decoder in
            Adapter(config: try Adapter.Config(from: decoder))
        }
    }

    public mutating func register<Auth: ChannelAuthenticator>(auth: Auth.Type) {
        precondition(authenticators[Auth.name] == nil, "auth type \(Auth.name) registered twice")
        authenticators[Auth.name] = AuthEntry { decoder, context in
            try Auth(config: try Auth.Config(from: decoder), channel: context)
        }
    }

    public mutating func register<Factory: SinkFactory>(sink: Factory.Type) {
        precondition(sinks[Factory.name] == nil, "sink type \(Factory.name) registered twice")
        sinks[Factory.name] = SinkEntry { decoder, name in
            let config = try Factory.Config(from: decoder)
            try Factory.validate(config)
            var definition = SinkDefinition(name: name, type: Factory.name) { context in
                try await Factory.make(config: config, context: context)
            }
            definition.needsRawPayload = Factory.needsRawPayload(config)
            definition.answersStatusQueries = Factory.answersStatusQueries
            return definition
        }
    }

    public var providerNames: [String] { providers.keys.sorted() }
    public var authNames: [String] { authenticators.keys.sorted() }
    public var sinkNames: [String] { sinks.keys.sorted() }
}

extension CodingUserInfoKey {
    /// Where config types find the registry while they decode.
    static let registry = CodingUserInfoKey(rawValue: "tickwire.registry")!
}

extension Decoder {
    var registry: Registry {
        get throws {
            guard let registry = userInfo[.registry] as? Registry else { throw ConfigIssue("internal: no plugin registry") }
            return registry
        }
    }
}
