import Logging

/// The daemon's whole configuration: `config.yaml` and the files it includes, merged,
/// validated, with every plugin's options decoded by the plugin's own type.
public struct Config: Sendable {
    public var server: ServerConfig
    public var storage: StorageConfig
    public var logging: LoggingConfig
    public var sinks: [String: SinkDefinition]
    public var orgs: [String: OrgConfig]
    /// The files read, main file first.
    public var files: [String]
    /// Secrets that took the default written beside them (`file:line key`, and the variable
    /// to set): allowed on loopback only, and warned about at start, since anything that
    /// forwards to the listen address (a reverse proxy on this host) publishes them.
    public var defaultedSecrets: [String] = []

    /// Every subscription of every org, in a stable order.
    public var subscriptions: [Subscription] {
        orgs.keys.sorted().flatMap { orgs[$0]!.subscriptions }
    }
}

public struct ServerConfig: Sendable, Decodable {
    /// `host:port` to listen on.
    public var listen: String = "127.0.0.1:8080"
    /// Larger bodies are answered 413. Meta sends up to 3 MB.
    public var maxBodyBytes: Int = 4 * 1024 * 1024
    public static let largestBodyLimit = 64 * 1024 * 1024
    /// How long SIGTERM waits for in-flight requests and batches before cancelling them.
    public var shutdownGrace = ConfigDuration(duration: .seconds(10), description: "10s")
    /// A connection that sends and receives nothing this long is closed (slow clients,
    /// slow-loris attacks, forgotten keep-alive connections).
    public var idleTimeout = ConfigDuration(duration: .seconds(30), description: "30s")
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`: its figures name
    /// every org, channel and subscription, and the listener is public.
    public var metricsToken: String?

    enum CodingKeys: String, CodingKey {
        case listen
        case maxBodyBytes = "max_body_bytes"
        case shutdownGrace = "shutdown_grace"
        case idleTimeout = "idle_timeout"
        case metricsToken = "metrics_token"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? listen
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? maxBodyBytes
        shutdownGrace = try c.decodeIfPresent(ConfigDuration.self, forKey: .shutdownGrace) ?? shutdownGrace
        idleTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .idleTimeout) ?? idleTimeout
        metricsToken = try c.decodeSecretIfPresent(String.self, forKey: .metricsToken)
        if let metricsToken, metricsToken.count < 16 {
            throw ConfigIssue("metrics_token must be at least 16 characters long")
        }
        // Each connection may hold a body this large in memory; no provider sends more than a few MB.
        guard (1...Self.largestBodyLimit).contains(maxBodyBytes) else {
            throw ConfigIssue("max_body_bytes must be between 1 and \(Self.largestBodyLimit) (64 MiB)")
        }
        // Zero would close every connection as soon as it opens.
        guard idleTimeout.duration > .zero else { throw ConfigIssue("idle_timeout must be longer than zero") }
        _ = try hostAndPort()
    }

    /// Whether `listen` is reachable from this machine only.
    public var listensOnLoopbackOnly: Bool {
        guard let host = try? hostAndPort().host else { return false }
        if host == "localhost" || host == "::1" { return true }
        // 127.0.0.0/8 written as an address: a name such as 127.example.org is not loopback.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    public func hostAndPort() throws(ConfigIssue) -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ConfigIssue("listen: expected host:port like 127.0.0.1:8080, got \"\(listen)\"") }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}

public struct StorageConfig: Sendable, Decodable {
    /// Where the journal lives (`journal.sqlite`).
    public var directory: String = "data"
    public var durability: Durability = .full
    /// How long delivered events stay in the journal (for replay) before they are deleted.
    public var retention = ConfigDuration(duration: .seconds(7 * 86400), description: "7d")

    enum CodingKeys: String, CodingKey { case directory, durability, retention }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        directory = try c.decodeIfPresent(String.self, forKey: .directory) ?? directory
        durability = try c.decodeIfPresent(Durability.self, forKey: .durability) ?? durability
        retention = try c.decodeIfPresent(ConfigDuration.self, forKey: .retention) ?? retention
        // Retention is also how long a provider's retry is known as one (its id leaves with
        // its entry), and how long a removed subscription's state is kept: `0s` forgot both.
        guard retention.duration >= .seconds(3600) else {
            throw ConfigIssue("retention: must be at least 1h (it is also how long a provider's retry is recognised as one)")
        }
    }

    public var journalPath: String { directory + "/journal.sqlite" }
}

extension Durability: ConfigEnum {}

public struct LoggingConfig: Sendable, Decodable {
    public enum Format: String, Sendable, ConfigEnum { case logfmt, json }
    public enum Level: String, Sendable, ConfigEnum { case trace, debug, info, notice, warning, error, critical }

    public var level: Level = .info
    public var format: Format = .logfmt

    enum CodingKeys: String, CodingKey { case level, format }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        level = try c.decodeIfPresent(Level.self, forKey: .level) ?? level
        format = try c.decodeIfPresent(Format.self, forKey: .format) ?? format
    }

    public var loggerLevel: Logger.Level { Logger.Level(rawValue: level.rawValue) ?? .info }
}

/// A sink instance (`sinks.NAME`): its type and a way to open it.
public struct SinkDefinition: Sendable, Decodable {
    public var name: String
    public var type: String
    public var location: ConfigLocation
    /// Equal fingerprints mean equal options: a reload keeps such a sink open.
    public var fingerprint: String = ""
    /// The sink sends the provider's request bytes (`SinkFactory.needsRawPayload`).
    public var needsRawPayload = false
    /// The org API reads status lookups from it (`SinkFactory.answersStatusQueries`).
    public var answersStatusQueries = false
    public var make: @Sendable (SinkContext) async throws -> any Sink

    init(name: String, type: String, make: @escaping @Sendable (SinkContext) async throws -> any Sink) {
        self.name = name
        self.type = type
        self.location = ConfigLocation(file: "", line: nil, path: "")
        self.make = make
    }

    enum CodingKeys: String, CodingKey { case type }

    public init(from decoder: Decoder) throws {
        let type = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .type)
        let registry = try decoder.registry
        guard let entry = registry.sinks[type] else {
            throw ConfigIssue("unknown sink type \"\(type)\" (known: \(registry.sinkNames.joined(separator: ", ")))")
        }
        self = try entry.decode(decoder, decoder.codingPath.last?.stringValue ?? type)
        self.location = decoder.configLocation
        self.fingerprint = decoder.configFingerprint
    }
}

/// One organization (tenant): its channels, API keys and subscriptions.
public struct OrgConfig: Sendable, Decodable {
    public var name: String
    /// Bearer keys for the org API; never logged.
    public var apiKeys: [String]
    public var channels: [String: ChannelConfig]
    public var subscriptions: [Subscription]
    public var location: ConfigLocation
    /// A subscription's sink sends the provider's request bytes, so ingress keeps them with
    /// the events; set by the loader, which knows the sinks.
    public internal(set) var keepsRawPayload = false

    enum CodingKeys: String, CodingKey {
        case apiKeys = "api_keys"
        case channels, subscriptions
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = decoder.codingPath.last?.stringValue ?? ""
        try ConfigName.validate(name, what: "org")
        location = decoder.configLocation
        apiKeys = try c.decodeSecretIfPresent([String].self, forKey: .apiKeys) ?? []
        if apiKeys.contains(where: { $0.count < 16 }) {
            throw ConfigIssue("api_keys: every key must be at least 16 characters long")
        }
        channels = try c.decodeIfPresent([String: ChannelConfig].self, forKey: .channels) ?? [:]
        var subscriptions = try c.decodeIfPresent([Subscription].self, forKey: .subscriptions) ?? []
        for index in subscriptions.indices { subscriptions[index].org = name }
        self.subscriptions = subscriptions
    }
}

/// A provider callback endpoint: `/v1/webhooks/{org}/{channel}`.
public struct ChannelConfig: Sendable, Decodable {
    public var name: String
    public var provider: String
    public var authType: String
    /// The URL the provider calls, when it differs from the listen address (Twilio signs it).
    public var publicURL: String?
    public var adapter: any ProviderAdapter
    public var mediaTypes: [String]
    public var authenticator: any ChannelAuthenticator

    enum CodingKeys: String, CodingKey {
        case provider, auth
        case publicURL = "public_url"
    }

    enum AuthKeys: String, CodingKey { case type }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let registry = try decoder.registry
        name = decoder.codingPath.last?.stringValue ?? ""
        try ConfigName.validate(name, what: "channel")
        provider = try c.decode(String.self, forKey: .provider)
        guard let entry = registry.providers[provider] else {
            throw ConfigIssue("unknown provider \"\(provider)\" (known: \(registry.providerNames.joined(separator: ", ")))")
        }
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        let authDecoder = try c.superDecoder(forKey: .auth)
        authType = try authDecoder.container(keyedBy: AuthKeys.self).decode(String.self, forKey: .type)
        guard let auth = registry.authenticators[authType] else {
            throw ConfigIssue("auth: unknown type \"\(authType)\" (known: \(registry.authNames.joined(separator: ", ")))")
        }
        authenticator = try auth.decode(authDecoder, ChannelAuthContext(publicURL: publicURL))
        // The provider's own options sit beside `provider` and `auth` in the same mapping.
        adapter = try entry.decode(decoder)
        mediaTypes = entry.mediaTypes
    }
}

/// Names that appear in URLs and file paths: letters, digits, `-` and `_`.
enum ConfigName {
    static func validate(_ name: String, what: String) throws(ConfigIssue) {
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        guard allowed, !name.isEmpty, name.count <= 64 else {
            throw ConfigIssue("\(what) name \"\(name)\" may only contain letters, digits, \"-\" and \"_\" (at most 64)")
        }
    }
}
