import Logging
import TickwireCore

/// The sinks and dispatchers built from one configuration.
///
/// A reload builds the next pipeline from the previous one: sinks whose options did not
/// change stay open (same instance, same connections), dispatchers whose route did not
/// change keep running, and only the rest is opened, started, stopped or closed.
struct Pipeline: Sendable {
    struct OpenSink: Sendable {
        var fingerprint: String
        var sink: any Sink
    }

    var sinks: [String: OpenSink] = [:]
    var dispatchers: [SubscriptionDispatcher] = []

    /// Opens what `config` needs that `previous` does not have. Returns the new pipeline and
    /// the sinks of `previous` it no longer uses (close them once their dispatchers stopped).
    /// On failure, sinks opened here are closed again and `previous` is untouched. The
    /// removed subscriptions are the caller's to mark retired (`Journal.retireSubscriptions`,
    /// before this reads cursors); their state stays, so a stopping dispatcher can still
    /// save its cursor.
    /// `storage` is the one the daemon started with: its durability and directory take
    /// effect at a restart, and a sink reopened by a reload must not take the new ones
    /// while the journal keeps the old (a sink at `normal` behind a journal at `full`).
    /// `openLater`: at start, a sink that cannot be opened becomes an `UnopenedSink`, tried
    /// again later, instead of failing the start.
    static func build(
        config: Config, storage: StorageConfig, previous: Pipeline, journal: any Journal, metrics: GatewayMetrics, logger: Logger,
        openLater: Bool = false
    ) async throws -> (pipeline: Pipeline, unusedSinks: [String: any Sink]) {
        var next = Pipeline()
        var opened: [any Sink] = []
        do {
            for (name, definition) in config.sinks.sorted(by: { $0.key < $1.key }) {
                if let kept = previous.sinks[name], kept.fingerprint == definition.fingerprint {
                    next.sinks[name] = kept
                    continue
                }
                var sinkLogger = logger
                sinkLogger[metadataKey: "sink"] = "\(name)"
                let context = SinkContext(
                    name: name, durability: storage.durability, dataDirectory: storage.directory, logger: sinkLogger)
                let sink: any Sink
                do {
                    sink = try await definition.make(context)
                } catch where openLater {
                    sinkLogger.error(
                        "sink cannot be opened: serving anyway; its subscriptions' events wait in the journal, and it is tried again at most every 10 s",
                        metadata: ["error": "\(error)"])
                    sink = UnopenedSink(type: definition.type, logger: sinkLogger) { try await definition.make(context) }
                }
                opened.append(sink)
                next.sinks[name] = OpenSink(fingerprint: definition.fingerprint, sink: sink)
            }
            let running = Dictionary(previous.dispatchers.map { ($0.routeKey, $0) }, uniquingKeysWith: { first, _ in first })
            for subscription in config.subscriptions {
                let sink = next.sinks[subscription.sink]!
                let candidate = SubscriptionDispatcher(
                    subscription: subscription, sink: sink.sink, journal: journal, logger: logger, metrics: metrics,
                    sinkFingerprint: sink.fingerprint)
                let dispatcher = running[candidate.routeKey] ?? candidate
                try await dispatcher.prepareCursor()
                next.dispatchers.append(dispatcher)
            }
        } catch {
            for sink in opened { await sink.shutdown() }
            throw error
        }
        let unused = previous.sinks.filter { name, old in next.sinks[name]?.fingerprint != old.fingerprint }.mapValues(\.sink)
        return (next, unused)
    }
}
