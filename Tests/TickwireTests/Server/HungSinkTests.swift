import Foundation
import Logging
import Synchronization
import Testing
import TickwireCore
@testable import TickwireServer

/// A sink on a disk that hangs: its writes (and its close) never return, and cancellation
/// does not reach them (a blocked `write(2)` or `fsync(2)` cannot be interrupted).
final class HungSink: Sink {
    private let held = Mutex<(deliveries: [CheckedContinuation<Void, Never>], closes: [CheckedContinuation<Void, Never>])>(([], []))

    var waitingDeliveries: Int { held.withLock { $0.deliveries.count } }

    func deliver(_ batch: [Event]) async -> DeliveryReport {
        await withCheckedContinuation { continuation in held.withLock { $0.deliveries.append(continuation) } }
        return .all(.retry(reason: "the disk came back"), count: batch.count)
    }

    func shutdown() async {
        await withCheckedContinuation { continuation in held.withLock { $0.closes.append(continuation) } }
    }

    /// The disk comes back: what was stuck returns.
    func release() {
        let stuck = held.withLock { held in
            defer { held = ([], []) }
            return held.deliveries + held.closes
        }
        for continuation in stuck { continuation.resume() }
    }
}

/// `type: hung` in a test's configuration.
struct HungSinkFactory: SinkFactory {
    struct Config: Decodable, Sendable {}
    static let name = "hung"
    static let answersStatusQueries = false
    static let made = Mutex<[HungSink]>([])

    static func make(config: Config, context: SinkContext) async throws -> any Sink {
        let sink = HungSink()
        made.withLock { $0.append(sink) }
        return sink
    }
}

@Suite("A sink on a hung disk", .serialized, .timeLimit(.minutes(1)))
struct HungSinkTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    /// A shutdown whose grace ran out cancels the dispatchers; one whose delivery is stuck
    /// returns anyway, its cursor before the stuck batch (delivered again at the next
    /// start). Until then the delivery's age shows on /metrics.
    @Test func aCancelledDispatcherDoesNotWaitForAStuckDelivery() async throws {
        let journal = try SQLiteJournal(path: directory.path + "/journal.sqlite", durability: .normal)
        let sink = HungSink()
        let metrics = GatewayMetrics()
        let dispatcher = SubscriptionDispatcher(
            subscription: Subscription(name: "s", org: "acme", sink: "disk", from: .beginning), sink: sink, journal: journal,
            logger: .quiet, metrics: metrics)
        try await dispatcher.prepareCursor()
        try await journal.append([TestEvents.status(.sent, message: "m0")])
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: .quiet)
        let task = Task { try await service.run() }
        #expect(await eventually { sink.waitingDeliveries == 1 })
        try await Task.sleep(for: .milliseconds(300))
        await dispatcher.reportBacklog()
        let gauge = String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("tickwire_subscription_delivery_in_flight_seconds{") && $0.contains(#"subscription="acme/s""#) }
        let age = gauge.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        #expect((age ?? 0) >= 0.3, "\(gauge ?? "no gauge")")

        task.cancel()
        let ended = Atomic<Bool>(false)
        Task {
            _ = await task.result
            ended.store(true, ordering: .relaxed)
        }
        #expect(await eventually(timeout: .seconds(5)) { ended.load(ordering: .relaxed) }, "the dispatchers stopped")
        #expect(try await journal.cursor(subscription: "acme/s") == 0)
        sink.release()
        try await journal.close()
    }

    func config(sinks: String, subscriptions: String) throws -> Config {
        var registry = Registry.standard
        registry.register(sink: HungSinkFactory.self)
        let path = try directory.write("config.yaml", """
            server: { listen: "127.0.0.1:0", shutdown_grace: 1s }
            storage: { directory: "\(directory.path)/data" }
            sinks:
              archive: { type: file, path: "\(directory.path)/out.jsonl" }
            \(sinks)
            orgs:
              demo:
                channels: { open: { provider: gupshup, auth: { type: none } } }
                subscriptions: [ \(subscriptions) ]
            """)
        return try ConfigLoader(registry: registry, environment: [:]).load(path: path)
    }

    /// Closing the daemon gives up on a sink that does not close within
    /// `server.shutdown_grace`: a SIGTERM ends the process even so.
    @Test func closingTheDaemonDoesNotWaitForASinkThatCannotClose() async throws {
        let daemon = try await Daemon.open(
            config: try config(sinks: "  disk: { type: hung }", subscriptions: "{ sink: disk }, { sink: archive }"), logger: .quiet)
        let closed = Atomic<Bool>(false)
        Task {
            await daemon.close()
            closed.store(true, ordering: .relaxed)
        }
        #expect(await eventually(timeout: .seconds(8)) { closed.load(ordering: .relaxed) }, "closed within the grace")
        // The journal was closed after the sink was given up on.
        await #expect(throws: (any Error).self) { try await daemon.journal.append([TestEvents.status(.sent, message: "late")]) }
        for sink in HungSinkFactory.made.withLock({ $0 }) { sink.release() }
    }

    /// The operator removes the hung sink and reloads: the reload (and so a SIGTERM after
    /// it, which waits for the reload) does not wait for that sink's close for ever.
    @Test func aReloadThatRemovesASinkThatCannotCloseEnds() async throws {
        let daemon = try await Daemon.open(
            config: try config(sinks: "  disk: { type: hung }", subscriptions: "{ sink: disk }, { sink: archive }"), logger: .quiet)
        let reloaded = Atomic<Bool>(false)
        let without = try config(sinks: "", subscriptions: "{ sink: archive }")
        let reload = Task {
            try await daemon.reload(without)
            reloaded.store(true, ordering: .relaxed)
        }
        let ended = await eventually(timeout: .seconds(8)) { reloaded.load(ordering: .relaxed) }
        #expect(ended, "reloaded within the grace")
        // Not waited for when it hangs: the test fails instead of hanging with it.
        if ended { try await reload.value }
        #expect(daemon.gateway.config.sinks["disk"] == nil)
        await daemon.close()
        for sink in HungSinkFactory.made.withLock({ $0 }) { sink.release() }
    }
}
