import ArgumentParser
import Foundation
import Logging
import TickwireCore
import TickwireServer

/// `tickwire bench-forward`: forwarded events per second from a journal backlog to an HTTP
/// receiver (bench/forward.sh runs it against nginx answering 200; see bench/RESULTS.md).
struct BenchForward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-forward", abstract: "Measure the HTTP forwarder: events per second drained from a journal backlog.")

    @Option(help: "The receiver (it should answer 200 at once).") var url: String
    @Option(help: "cloudevents, cloudevents-binary, cloudevents-batch or native") var format = "cloudevents"
    @Option(help: "Events to journal and forward.") var events = 100_000
    @Option(help: "Requests in flight.") var concurrency = 8
    @Option(help: "Events per request (cloudevents-batch).") var batchSize = 100
    @Option(help: "full or normal") var durability = Durability.full

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tickwire-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let yaml = """
            sinks:
              bench: { type: http, url: "\(url)", format: \(format), concurrency: \(concurrency), batch_size: \(batchSize),
                       secret: "whsec_\(Data("bench-signing-key-of-32-bytes!!!".utf8).base64EncodedString())" }
            """
        let path = directory + "/bench.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader(registry: .standard, environment: [:]).load(path: path)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        // Three statuses per message, as a provider sends them (the store benchmark's events).
        let statuses: [MessageStatus] = [.sent, .delivered, .read]
        let journaled = (0..<events).map { BenchStore.event($0 / 3, statuses[$0 % 3]) }
        let result = try await ForwardBenchmark.run(
            sink: config.sinks["bench"]!, events: journaled, directory: directory, durability: durability,
            logger: logger)
        print(String(
            format: "%@ (concurrency %d%@, signed, durability %@): %d events in %.2f s: %.0f events/s", format, concurrency,
            format == "cloudevents-batch" ? ", batch_size \(batchSize)" : "", durability.rawValue, result.events, result.seconds,
            result.eventsPerSecond))
    }
}
