import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TickwireCore
import TickwireProviders
import TickwireSinks

extension Registry {
    /// Every provider, auth type and sink shipped with Tickwire.
    public static var standard: Registry {
        var registry = Registry()
        registry.registerStandardProviders()
        registry.registerStandardSinks()
        return registry
    }
}

/// The running daemon: journal, sinks, dispatchers and the HTTP server, wired from a config.
public struct Daemon: Sendable {
    public let gateway: Gateway
    public let journal: SQLiteJournal
    public let metrics: GatewayMetrics
    let sinks: [String: any Sink]
    let dispatchers: [SubscriptionDispatcher]
    let logger: Logger

    /// Opens the journal and every sink, and sets the cursors of new subscriptions; nothing
    /// is served yet.
    public static func open(config: Config, logger: Logger) async throws -> Daemon {
        let metrics = GatewayMetrics()
        let journal = try SQLiteJournal(path: config.storage.journalPath, durability: config.storage.durability) { events, duration in
            metrics.journalCommit(events: events, duration: duration)
        }
        var sinks: [String: any Sink] = [:]
        for (name, definition) in config.sinks.sorted(by: { $0.key < $1.key }) {
            var sinkLogger = logger
            sinkLogger[metadataKey: "sink"] = "\(name)"
            let context = SinkContext(
                name: name, durability: config.storage.durability, dataDirectory: config.storage.directory, logger: sinkLogger)
            sinks[name] = try await definition.make(context)
        }
        try await journal.removeCursors(except: Set(config.subscriptions.map(\.id)))
        var dispatchers: [SubscriptionDispatcher] = []
        for subscription in config.subscriptions {
            let dispatcher = SubscriptionDispatcher(
                subscription: subscription, sink: sinks[subscription.sink]!, journal: journal, logger: logger, metrics: metrics)
            try await dispatcher.prepareCursor()
            dispatchers.append(dispatcher)
        }
        return Daemon(
            gateway: Gateway(config: config, journal: journal), journal: journal, metrics: metrics, sinks: sinks,
            dispatchers: dispatchers, logger: logger)
    }

    /// The HTTP application with the dispatchers attached as a service: they start before
    /// the server and stop after it, so in-flight requests still reach the sinks.
    /// Tests run it with HummingbirdTesting.
    public func application() throws -> some ApplicationProtocol {
        let router = Router()
        WebhookIngress(gateway: gateway, metrics: metrics, logger: logger).register(on: router)
        HealthRoutes(gateway: gateway, metrics: metrics) { [dispatchers] in
            for dispatcher in dispatchers { await dispatcher.reportBacklog() }
        }.register(on: router)
        let (host, port) = try gateway.config.server.hostAndPort()
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "tickwire"),
            services: [
                DispatchService(dispatchers: dispatchers, journal: journal, logger: logger),
                RetentionService(
                    journal: journal, retention: gateway.config.storage.retention.duration, interval: .seconds(60), logger: logger),
            ],
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, finishes in-flight work and
    /// closes the journal and sinks.
    public func run() async throws {
        defer { logger.info("stopped") }
        do {
            try await application().runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            await close()
            throw error
        }
        await close()
    }

    /// Releases sinks and the journal.
    public func close() async {
        for sink in sinks.values { await sink.shutdown() }
        try? await journal.close()
    }
}
