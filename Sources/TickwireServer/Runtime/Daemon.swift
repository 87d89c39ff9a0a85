import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import Synchronization
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
public final class Daemon: Sendable {
    public let gateway: Gateway
    public let journal: SQLiteJournal
    public let metrics: GatewayMetrics
    let logger: Logger
    let dispatchService: DispatchService
    /// The configuration the daemon started with: what is read once at start (the listener,
    /// storage, logging) stays as it says until a restart, whatever reloads came since.
    private let started: Config
    private let pipeline: Mutex<Pipeline>
    private let reloads = ReloadQueue()
    /// Sink closes started (`shutDown`): `close` waits for any a cancelled reload left.
    private let closingLater = Mutex<[UUID: Task<Void, Never>]>([:])

    private init(config: Config, journal: SQLiteJournal, metrics: GatewayMetrics, pipeline: Pipeline, logger: Logger) {
        self.gateway = Gateway(config: config, journal: journal)
        self.started = config
        self.journal = journal
        self.metrics = metrics
        self.pipeline = Mutex(pipeline)
        self.logger = logger
        self.dispatchService = DispatchService(dispatchers: pipeline.dispatchers, journal: journal, logger: logger)
    }

    /// Opens the journal and every sink, and sets the cursors of new subscriptions; nothing
    /// is served yet.
    public static func open(config: Config, logger: Logger) async throws -> Daemon {
        let metrics = GatewayMetrics()
        let journal = try SQLiteJournal(
            path: config.storage.journalPath, durability: config.storage.durability,
            onCommit: { events, duration in metrics.journalCommit(events: events, duration: duration) },
            onSync: { duration in metrics.journalSync(duration: duration) })
        do {
            let (pipeline, _) = try await build(
                config, storage: config.storage, previous: Pipeline(), running: nil, journal: journal, metrics: metrics, logger: logger)
            return Daemon(config: config, journal: journal, metrics: metrics, pipeline: pipeline, logger: logger)
        } catch {
            try? await journal.close()
            throw error
        }
    }

    /// The open sink called `name`, for routes that read a sink's data (the status store);
    /// for one that could not be opened at start, an `UnopenedSink` until it opens.
    public func sink(named name: String) -> (any Sink)? {
        let sink = pipeline.withLock { $0.sinks[name]?.sink }
        return (sink as? UnopenedSink)?.sink ?? sink
    }

    /// The dispatchers of the current configuration.
    var dispatchers: [SubscriptionDispatcher] { pipeline.withLock { $0.dispatchers } }

    /// The HTTP application with the dispatchers attached as a service: they start before
    /// the server and stop after it, so in-flight requests still reach the sinks.
    /// Tests run it with HummingbirdTesting.
    public func application() throws -> some ApplicationProtocol {
        try application(bodyBudget: BodyBudget())
    }

    /// `bodyBudget`: what bodies being read may hold at once (smaller in tests).
    func application(bodyBudget: BodyBudget) throws -> some ApplicationProtocol {
        // Every GET route answers HEAD too, without a body (some monitors probe with HEAD).
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: JSONErrorMiddleware())
        let ingest = WebhookIngest(gateway: gateway, metrics: metrics, logger: logger, bodyBudget: bodyBudget)
        // Read at start, as the event loop's idle timeout is (`server` below).
        WebhookIngress(ingest: ingest, idleTimeout: gateway.config.server.idleTimeout.duration).register(on: router)
        let orgAPI = OrgAPIRoutes(gateway: gateway, logger: logger) { [self] org throws(WebhookRejection) in
            let sinks = org.subscriptions.compactMap { self.sink(named: $0.sink) }
            if let store = sinks.lazy.compactMap({ $0 as? StatusStoreSink }).first { return store }
            // Configured, but not opened yet (it could not be at start): tried again now,
            // for the next request, since an org with nothing to deliver would never open it.
            if let unopened = sinks.lazy.compactMap({ $0 as? UnopenedSink }).first(where: { $0.type == StatusStoreSink.name }) {
                unopened.openInBackground()
                throw WebhookRejection(status: 503, code: "store_unavailable", message: "the store cannot be read now")
            }
            return nil
        }
        orgAPI.register(on: router)
        orgAPI.registerDeliveryRoutes(on: router)
        orgAPI.registerQuarantineRoute(on: router)
        let refresh = SharedRun { [dispatchService] in
            for dispatcher in dispatchService.dispatchers { await dispatcher.reportBacklog() }
        }
        HealthRoutes(gateway: gateway, metrics: metrics) { await refresh.run() }.register(on: router)
        let server = gateway.config.server
        let (host, port) = try server.hostAndPort()
        let idle = TimeAmount.nanoseconds(server.idleTimeout.duration.nanosecondsValue)
        return Application(
            router: router,
            server: TickwireHTTPChannel.server(idleTimeout: idle, ingest: ingest),
            configuration: .init(address: .hostname(host, port: port), serverName: "tickwire"),
            services: [
                dispatchService,
                RetentionService(
                    journal: journal, retention: started.storage.retention.duration, interval: .seconds(60), logger: logger),
            ],
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, finishes in-flight work and
    /// closes the journal and sinks. Each of `reloads` (SIGHUP) reloads `configPath` with
    /// `loader`; SIGHUPs that came before this was called are applied first.
    public func run(reloadingFrom configPath: String? = nil, loader: ConfigLoader? = nil, on reloads: UnixSignalsSequence? = nil) async throws {
        defer { logger.info("stopped") }
        let server = started.server
        Self.warnAboutDefaultedSecrets(in: gateway.config, logger: logger)
        if server.metricsToken == nil && !server.listensOnLoopbackOnly {
            logger.warning("/metrics is open to anyone who can reach \(server.listen): it names every org, channel and subscription; set server.metrics_token")
        }
        var services: [any Service] = [try application()]
        if let configPath, let loader, let reloads {
            // Last in the list, so shut down first (the group goes in reverse order, each
            // service after the one before it has stopped): a reload in progress is
            // cancelled, then the server drains.
            services.append(ReloadSignalService(daemon: self, path: configPath, loader: loader, signals: reloads, logger: logger))
        }
        services.append(SyncWaitDeadline(journal: journal, grace: server.shutdownGrace.duration))
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = server.shutdownGrace.duration
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            await close()
            throw error
        }
        await close()
    }

    /// Swaps in a new configuration: new orgs, channels, secrets, sinks and subscriptions.
    /// Unchanged sinks and dispatchers keep running; requests in flight finish on the old
    /// configuration. On error nothing changes and the error is thrown.
    public func reload(_ config: Config) async throws {
        try await reloads.serialize { [self] in
            // Against the start, not the last reload: compared with the last, a second
            // reload said nothing of what still waits for the restart.
            let waiting = Self.settingsReadAtStart(changedFrom: started, to: config)
            if !waiting.isEmpty {
                logger.warning("these changes take effect at the next restart", metadata: ["settings": "\(waiting.joined(separator: ","))"])
            }
            let previous = pipeline.withLock { $0 }
            let (next, unusedSinks) = try await Self.build(
                config, storage: started.storage, previous: previous, running: gateway.config, journal: journal, metrics: metrics,
                logger: logger)
            let kept = Set(config.subscriptions.map { "\($0.id) \($0.sink)" })
            let gone = gateway.config.subscriptions.filter { !kept.contains("\($0.id) \($0.sink)") }
            pipeline.withLock { $0 = next }
            gateway.replaceConfig(config)
            await dispatchService.replace(with: next.dispatchers)
            await shutDown(unusedSinks)
            for subscription in gone { metrics.forget(subscription: subscription.id, sink: subscription.sink) }
            Self.warnAboutDefaultedSecrets(in: config, logger: logger)
        }
    }

    /// Marks the subscriptions `config` lacks as retired, then builds its pipeline. Marked
    /// first, before any cursor is read: a subscription configured again must not be
    /// forgotten by a retention pass while its new dispatcher runs; a failed mark fails the
    /// start or reload. A failed build puts the marks back as they were (retirements keep
    /// their time), and retires for `running`, the configuration that stays after a failed
    /// reload, what the build gave state to (new subscriptions' cursors). At start (nothing
    /// `running`) a sink that cannot be opened is opened later (`UnopenedSink`); a reload
    /// that cannot open one fails.
    private static func build(
        _ config: Config, storage: StorageConfig, previous: Pipeline, running: Config?, journal: SQLiteJournal,
        metrics: GatewayMetrics, logger: Logger
    ) async throws -> (pipeline: Pipeline, unusedSinks: [String: any Sink]) {
        let retiring = try await journal.retireSubscriptions(except: Set(config.subscriptions.map(\.id)))
        do {
            let built = try await Pipeline.build(
                config: config, storage: storage, previous: previous, journal: journal, metrics: metrics, logger: logger,
                openLater: running == nil)
            logRetired(retiring.retired, keptFor: storage.retention, logger: logger)
            return built
        } catch {
            do {
                try await journal.undo(retiring)
                if let running { _ = try await journal.retireSubscriptions(except: Set(running.subscriptions.map(\.id))) }
            } catch let undoing {
                // A running subscription left marked would be forgotten, queue and all,
                // after storage.retention: the next reload or start marks it right.
                logger.error("the subscription marks could not be put back; reload or restart once the journal takes writes",
                             metadata: ["error": "\(undoing)"])
            }
            throw error
        }
    }

    /// Secrets that took the default written in the file (allowed on loopback only): a
    /// reverse proxy or tunnel on this machine publishes them all the same.
    static func warnAboutDefaultedSecrets(in config: Config, logger: Logger) {
        guard !config.defaultedSecrets.isEmpty else { return }
        logger.warning(
            "published default secrets in use: fine for trying Tickwire on this machine, but anything that forwards to \(config.server.listen) (a reverse proxy, a tunnel) makes them anyone's",
            metadata: ["secrets": "\(config.defaultedSecrets.joined(separator: ", "))"])
    }

    /// A subscription gone from the configuration (on purpose, or with a plugins.d file that
    /// was missing) keeps what it had not delivered for `storage.retention`: say so, and how
    /// to get it back.
    static func logRetired(_ retired: [String], keptFor retention: ConfigDuration, logger: Logger) {
        guard !retired.isEmpty else { return }
        logger.warning(
            "subscriptions no longer configured: their cursors, retry queues and dead letters are kept for storage.retention (\(retention.description)), and each resumes where it was if configured again before then",
            metadata: ["subscriptions": "\(retired.joined(separator: ","))"])
    }

    /// The settings that changed and are read once, when the daemon starts: the listener,
    /// the journal, the retention service, the shutdown grace and the log handler.
    static func settingsReadAtStart(changedFrom old: Config, to new: Config) -> [String] {
        let settings: [(String, Bool)] = [
            ("server.listen", old.server.listen != new.server.listen),
            ("server.idle_timeout", old.server.idleTimeout.duration != new.server.idleTimeout.duration),
            ("server.shutdown_grace", old.server.shutdownGrace.duration != new.server.shutdownGrace.duration),
            ("storage.directory", old.storage.directory != new.storage.directory),
            ("storage.durability", old.storage.durability != new.storage.durability),
            ("storage.retention", old.storage.retention.duration != new.storage.retention.duration),
            ("logging.level", old.logging.level != new.logging.level),
            ("logging.format", old.logging.format != new.logging.format),
        ]
        return settings.filter(\.1).map(\.0)
    }

    /// Releases sinks and the journal.
    public func close() async {
        await shutDown(pipeline.withLock { $0.sinks.mapValues(\.sink) })
        // Any a reload cancelled by the shutdown left closing: each within its grace.
        for closing in closingLater.withLock({ Array($0.values) }) { await closing.value }
        try? await journal.close()
    }

    /// Shuts `sinks` down side by side. One whose disk hangs (a file sink's write, a status
    /// store's fsync: neither can be interrupted) is given up on after `server.shutdown_grace`
    /// (as read at start), so that a SIGTERM still ends the process, also during a reload
    /// that removed that sink; what it had not confirmed is delivered again at the next start.
    private func shutDown(_ sinks: [String: any Sink]) async {
        let grace = started.server.shutdownGrace
        // Unstructured, so that a cancelled caller still gives each sink its grace.
        let closing = Task { [logger] in
            await withTaskGroup(of: Void.self) { group in
                for (name, sink) in sinks {
                    group.addTask {
                        let closing = Task { await sink.shutdown() }
                        guard await value(of: closing, within: grace.duration) == nil else { return }
                        logger.error(
                            "sink did not close within server.shutdown_grace (\(grace.description)); going on without it: is its disk hung?",
                            metadata: ["sink": "\(name)"])
                    }
                }
            }
        }
        // A reload cancelled by a shutdown stops waiting (the server stops accepting only
        // once the reload has returned): `close` waits instead.
        let id = UUID()
        closingLater.withLock { $0[id] = closing }
        if await value(of: closing, within: nil) != nil { _ = closingLater.withLock { $0.removeValue(forKey: id) } }
    }
}

/// Told first when a shutdown starts (last in the list): once `grace` has passed, a WAL
/// sync still waiting for descriptors or memory fails, so that the saves and prunes waiting
/// on it end and the services can stop.
private struct SyncWaitDeadline: Service {
    let journal: SQLiteJournal
    let grace: Duration

    func run() async throws {
        try? await gracefulShutdown()
        Task { [journal, grace] in
            try? await Task.sleep(for: grace)
            journal.abandonSyncWaits()
        }
    }
}

/// Runs reloads one at a time (two SIGHUPs in a row must not build two pipelines at once).
actor ReloadQueue {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func serialize(_ work: @Sendable () async throws -> Void) async throws {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        try await work()
    }
}
