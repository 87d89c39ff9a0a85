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

    /// Journals `events` status events (each message gets sent, delivered, read), then runs
    /// the subscription until its cursor is at the end and its retry queue is empty.
    public static func run(
        sink definition: SinkDefinition, events count: Int, directory: String, durability: Durability, logger: Logger
    ) async throws -> Result {
        let journal = try SQLiteJournal(path: directory + "/bench-journal.sqlite", durability: durability)
        let context = SinkContext(name: "bench", durability: durability, dataDirectory: directory, logger: logger)
        let sink = try await definition.make(context)
        let statuses: [MessageStatus] = [.sent, .delivered, .read]
        var batch: [Event] = []
        for n in 0..<count {
            let message = n / 3
            let status = statuses[n % 3]
            batch.append(Event(
                id: EventID.make(["bench", "gs", status.rawValue, "m\(message)"]), type: EventType(status: status),
                time: Date(timeIntervalSince1970: 1_700_000_000 + Double(n)), subject: "gs-\(message)", org: "bench", channel: "gs",
                provider: "gupshup",
                data: [
                    "message_id": .string("gs-\(message)"), "status": .string(status.rawValue), "recipient": "+919876543210",
                    "provider_message_ids": [.string("gs-\(message)")],
                ]))
            if batch.count == 1000 {
                try await journal.append(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await journal.append(batch)
        let last = try await journal.lastSequence()

        let subscription = Subscription(name: "bench", org: "bench", sink: "bench", from: .beginning)
        let dispatcher = SubscriptionDispatcher(subscription: subscription, sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        let started = ContinuousClock.now
        let task = Task { try await service.run() }
        while true {
            let cursor = try await journal.cursor(subscription: subscription.id) ?? 0
            if cursor >= last, try await journal.queued(subscription: subscription.id, limit: 1).isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - started
        task.cancel()
        _ = await task.result
        let dead = try await journal.deadLetters(subscription: subscription.id, limit: 1).count
        await sink.shutdown()
        try await journal.close()
        guard dead == 0 else { throw BenchmarkFailure(description: "events were dead-lettered: is the receiver answering 200?") }
        return Result(events: count, seconds: elapsed.secondsValue)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}
