import ArgumentParser
import Foundation
import TickwireCore
import TickwireSinks

extension Durability: ExpressibleByArgument {}

/// `tickwire bench-store`: the status store's write throughput and lookups by id, on a
/// fresh file (issue 5's figures; see bench/RESULTS.md).
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store", abstract: "Measure the status store: events written per second, lookups by id per second.")

    @Option(help: "Messages to write (each gets a sent and a delivered event).") var messages = 1_000_000
    @Option(help: "The store file to create (deleted first).") var path = "data/bench-store.sqlite"
    @Option(help: "Seconds of random lookups.") var seconds = 5.0
    @Option(help: "full or normal") var durability = Durability.full

    func validate() throws {
        guard messages > 0 else { throw ValidationError("--messages must be at least 1") }
    }

    func run() async throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let store = try StatusStoreSink.open(path: path, durability: durability)
        let batchSize = 500
        let started = ContinuousClock.now
        var written = 0
        for first in stride(from: 0, to: messages, by: batchSize) {
            let batch = (first..<min(first + batchSize, messages)).flatMap { n in
                [Self.event(n, .sent), Self.event(n, .delivered)]
            }
            let report = await store.deliver(batch)
            guard report.outcomes.allSatisfy({ $0 == .delivered }) else { throw ValidationError("a batch failed: \(report)") }
            written += batch.count
        }
        let writeSeconds = (ContinuousClock.now - started).secondsValue
        print(String(format: "wrote %d events (%d messages, batches of %d) in %.1f s: %.0f events/s", written, messages, batchSize * 2, writeSeconds, Double(written) / writeSeconds))

        var lookups = 0
        var found = 0
        let lookupStart = ContinuousClock.now
        while (ContinuousClock.now - lookupStart).secondsValue < seconds {
            for _ in 0..<1000 {
                let n = Int.random(in: 0..<messages)
                if try await store.message(org: "bench", id: n % 2 == 0 ? "gs-\(n)" : "wamid.\(n)") != nil { found += 1 }
                lookups += 1
            }
        }
        let lookupSeconds = (ContinuousClock.now - lookupStart).secondsValue
        print(String(format: "%d lookups by id (Gupshup or WhatsApp id, at random) in %.1f s: %.0f lookups/s, %d found", lookups, lookupSeconds, Double(lookups) / lookupSeconds, found))
        await store.shutdown()
    }

    static func event(_ n: Int, _ status: MessageStatus) -> Event {
        let time = Date(timeIntervalSince1970: 1_700_000_000 + Double(n) + (status == .delivered ? 1 : 0))
        return Event(
            id: EventID.make(["bench", "gs", "gupshup", status.rawValue, "gs-\(n)"]), type: EventType(status: status), time: time,
            subject: "gs-\(n)", org: "bench", channel: "gs", provider: "gupshup",
            data: [
                "message_id": .string("gs-\(n)"), "provider_message_ids": [.string("gs-\(n)"), .string("wamid.\(n)")],
                "status": .string(status.rawValue), "recipient": "+919876543210",
                "native": ["event_type": "message-event", "status": .string(status.rawValue)],
            ])
    }
}
