import CoreMetrics
import Metrics
import Prometheus
import Synchronization
import TickwireCore

/// The daemon's metrics, through swift-metrics with a Prometheus registry of its own (no
/// process-wide bootstrap, so tests can run several daemons side by side).
///
/// Labels are bounded: org, channel, subscription and sink names come from the config (an
/// unknown org in a URL is counted as `unknown`), never message ids.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// The per-request handles, made once per label set: making one is a registry lookup
    /// under a lock with the label text built anew, which showed on the hot path.
    private let requestHandles = Mutex<[RequestLabels: (CoreMetrics.Counter, Metrics.Timer)]>([:])
    private let acceptedHandles = Mutex<[AcceptedLabels: CoreMetrics.Counter]>([:])
    /// Recorded on the journal's commit thread, which every webhook waits for: made once.
    private let commitDuration: Metrics.Timer
    private let commitBatch: Recorder
    private let syncDuration: Metrics.Timer

    private struct RequestLabels: Hashable {
        var org: String
        var channel: String
        var status: Int
    }

    private struct AcceptedLabels: Hashable {
        var org: String
        var type: EventType
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let fast: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                .milliseconds(250), .seconds(1)]
        factory.durationHistogramBuckets["tickwire_journal_commit_duration_seconds"] = fast
        factory.durationHistogramBuckets["tickwire_journal_sync_duration_seconds"] = fast
        factory.durationHistogramBuckets["tickwire_http_request_duration_seconds"] = fast
        factory.valueHistogramBuckets["tickwire_journal_commit_batch_events"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        commitDuration = Metrics.Timer(label: "tickwire_journal_commit_duration_seconds", dimensions: [], factory: factory)
        commitBatch = Recorder(label: "tickwire_journal_commit_batch_events", dimensions: [], aggregate: true, factory: factory)
        syncDuration = Metrics.Timer(label: "tickwire_journal_sync_duration_seconds", dimensions: [], factory: factory)
        self.factory = factory
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    func request(org: String, channel: String, status: Int, duration: Duration) {
        let key = RequestLabels(org: org, channel: channel, status: status)
        let (counter, timer) = requestHandles.withLock { handles in
            if let made = handles[key] { return made }
            let made = (
                Counter(label: "tickwire_http_requests_total", dimensions: [("org", org), ("channel", channel), ("code", String(status))], factory: factory),
                Metrics.Timer(label: "tickwire_http_request_duration_seconds", dimensions: [("org", org)], factory: factory)
            )
            handles[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanosecondsValue)
    }

    func accepted(_ events: some Sequence<Event>) {
        for event in events {
            let key = AcceptedLabels(org: event.org, type: event.type)
            acceptedHandles.withLock { handles in
                if let made = handles[key] { return made }
                let made = Counter(
                    label: "tickwire_events_accepted_total", dimensions: [("org", event.org), ("type", event.type.rawValue)], factory: factory)
                handles[key] = made
                return made
            }.increment()
        }
    }

    func journalCommit(events: Int, duration: Duration) {
        commitDuration.recordNanoseconds(duration.nanosecondsValue)
        commitBatch.record(events)
    }

    func journalSync(duration: Duration) {
        syncDuration.recordNanoseconds(duration.nanosecondsValue)
    }

    func delivered(subscription: String, sink: String, count: Int, duration: Duration) {
        let labels = [("subscription", subscription), ("sink", sink)]
        Counter(label: "tickwire_subscription_delivered_events_total", dimensions: labels, factory: factory).increment(by: count)
        Metrics.Timer(label: "tickwire_subscription_delivery_duration_seconds", dimensions: labels, factory: factory)
            .recordNanoseconds(duration.nanosecondsValue)
    }

    func retried(subscription: String, sink: String, count: Int) {
        Counter(label: "tickwire_subscription_retried_events_total", dimensions: [("subscription", subscription), ("sink", sink)], factory: factory)
            .increment(by: count)
    }

    func deadLettered(subscription: String, sink: String) {
        Counter(label: "tickwire_subscription_dead_lettered_events_total", dimensions: [("subscription", subscription), ("sink", sink)], factory: factory)
            .increment()
    }

    func backlog(subscription: String, sink: String, events: Int64) {
        Gauge(label: "tickwire_subscription_backlog_events", dimensions: [("subscription", subscription), ("sink", sink)], factory: factory)
            .record(events)
    }

    func queued(subscription: String, sink: String, events: Int, circuitOpen: Bool?) {
        let labels = [("subscription", subscription), ("sink", sink)]
        Gauge(label: "tickwire_subscription_queued_events", dimensions: labels, factory: factory).record(events)
        if let circuitOpen {
            Gauge(label: "tickwire_subscription_circuit_open", dimensions: labels, factory: factory).record(circuitOpen ? 1 : 0)
        } else {
            // The sink has no breaker (any more: a reload may have changed its type).
            registry.unregisterGauge(registry.makeGauge(name: "tickwire_subscription_circuit_open", labels: labels))
        }
    }

    /// How long the subscription's oldest delivery in progress has been running (0: none):
    /// a local sink's write on a hung disk never returns, and this keeps growing.
    func deliveryInFlight(subscription: String, sink: String, for age: Duration) {
        Gauge(label: "tickwire_subscription_delivery_in_flight_seconds", dimensions: [("subscription", subscription), ("sink", sink)], factory: factory)
            .record(age.secondsValue)
    }

    /// 1 while a sink that could not be opened at start is still not open (`UnopenedSink`).
    func sinkUnopened(sink: String, _ unopened: Bool) {
        Gauge(label: "tickwire_sink_unopened", dimensions: [("sink", sink)], factory: factory).record(unopened ? 1 : 0)
    }

    /// Removes the gauges of subscriptions a reload removed (or moved to another sink):
    /// left in place, their last backlog or open circuit would keep alerts firing. The
    /// sink's own gauge goes too; another subscription of it records it again.
    func forget(subscription: String, sink: String) {
        let labels = [("subscription", subscription), ("sink", sink)]
        for name in [
            "tickwire_subscription_backlog_events", "tickwire_subscription_queued_events", "tickwire_subscription_circuit_open",
            "tickwire_subscription_delivery_in_flight_seconds",
        ] {
            registry.unregisterGauge(registry.makeGauge(name: name, labels: labels))
        }
        registry.unregisterGauge(registry.makeGauge(name: "tickwire_sink_unopened", labels: [("sink", sink)]))
    }

    func configReload(succeeded: Bool) {
        Counter(label: "tickwire_config_reloads_total", dimensions: [("result", succeeded ? "ok" : "failed")], factory: factory).increment()
    }
}
