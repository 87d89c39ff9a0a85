import Foundation
import Logging
import TickwireCore

/// `tickwire bench-forward`: how fast one subscription drains a journal backlog into a sink
/// (issue 6's figure: forwarded events/s to a receiver that answers 200 at once).
///
/// The real path: a journal file, a dispatcher, the sink built from YAML by the registry.
public enum ForwardBenchmark {
    public struct Result: Sendable {
        public var events: Int
        public var seconds: Double
        public var eventsPerSecond: Double { Double(events) / seconds }
    }

    /// Journals `events` (all of org `bench`), then runs one subscription to the sink until
    /// its cursor is at the end and its retry queue is empty.
    public static func run(
        sink definition: SinkDefinition, events: [Event], directory: String, durability: Durability, logger: Logger
    ) async throws -> Result {
        let journal = try SQLiteJournal(path: directory + "/bench-journal.sqlite", durability: durability)
        let context = SinkContext(name: "bench", durability: durability, dataDirectory: directory, logger: logger)
        let sink = try await definition.make(context)
        for start in stride(from: 0, to: events.count, by: 1000) {
            try await journal.append(Array(events[start..<min(start + 1000, events.count)]))
        }
        let last = try await journal.lastSequence()

        let subscription = Subscription(name: "bench", org: "bench", sink: "bench", from: .beginning)
        let dispatcher = SubscriptionDispatcher(subscription: subscription, sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        let started = ContinuousClock.now
        let task = Task { try await service.run() }
        while true {
            let cursor = try await journal.cursor(subscription: subscription.id) ?? 0
            if cursor >= last, try await journal.queuedCount(subscription: subscription.id) == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - started
        task.cancel()
        _ = await task.result
        let dead = try await journal.deadLetters(subscription: subscription.id, limit: 1).count
        await sink.shutdown()
        try await journal.close()
        guard dead == 0 else { throw BenchmarkFailure(description: "events were dead-lettered: is the receiver answering 200?") }
        return Result(events: events.count, seconds: elapsed.secondsValue)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}
