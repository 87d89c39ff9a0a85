import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
import TickwireCore
@testable import TickwireServer

/// Dead letters, the retry queue and replay over the org API, with a real forwarder
/// subscription and a receiver on loopback.
@Suite("Delivery API over HTTP")
struct DeliveryAPITests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    func daemon(forwardingTo url: String) async throws -> Daemon {
        _ = try TestDaemon.config(in: directory, extraSinks: ["console: { type: http, url: \"\(url)\", concurrency: 1 }"])
        var yaml = try String(contentsOfFile: directory.path + "/config.yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "      - { sink: archive }", with: "      - { sink: archive }\n      - { sink: console }")
        try yaml.write(toFile: directory.path + "/config.yaml", atomically: true, encoding: .utf8)
        return try await Daemon.open(
            config: try ConfigLoader(registry: .standard, environment: [:]).load(path: directory.path + "/config.yaml"), logger: .quiet)
    }

    @Test func deadLettersAreListedAndReplayedWithTheOrgsKey() async throws {
        let receiver = Receiver()
        let refusing = Mutex(true)
        receiver.answer { _ in .init(status: refusing.withLock { $0 } ? 422 : 200) }
        try await receiver.run { url in
            let daemon = try await daemon(forwardingTo: url)
            let body = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
            let auth: HTTPFields = [.authorization: "Bearer \(TestDaemon.apiKey)"]
            try await daemon.application().test(.live) { client in
                let posted = try await client.execute(
                    uri: "/v1/webhooks/demo/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body))
                #expect(posted.status == .ok)
                let path = "/v1/orgs/demo/subscriptions/console"
                let listed = await eventually {
                    let answer = try? await client.execute(uri: path + "/dead-letters", method: .get, headers: auth)
                    return answer.flatMap { try? JSONValue.parse(Array(buffer: $0.body))["dead_letters"]?.arrayValue?.count } == 1
                }
                #expect(listed, "the 422 is a dead letter")
                let letters = try JSONValue.parse(Array(buffer: try await client.execute(uri: path + "/dead-letters", method: .get, headers: auth).body))
                #expect(letters["dead_letters"]?[0]?["reason"] == "HTTP 422")
                // No journal sequence: one counter for every org, whose gaps would tell this
                // org how many events the others received.
                #expect(letters["dead_letters"]?[0]?["sequence"] == nil && letters["dead_letters"]?[0]?["event_id"] != nil)

                // Another org's key, no key and an unknown subscription are refused.
                #expect(try await client.execute(uri: path + "/replay", method: .post).status == .unauthorized)
                #expect(try await client.execute(
                    uri: path + "/replay", method: .post, headers: [.authorization: "Bearer wrong-key-0123456789"]).status == .unauthorized)
                #expect(try await client.execute(
                    uri: "/v1/orgs/demo/subscriptions/nope/replay", method: .post, headers: auth).status == .notFound)
                #expect(try await client.execute(uri: path + "/replay?since=yesterday", method: .post, headers: auth).status == .badRequest)
                // A range that ends before it starts is refused, and so is a time no event can have
                // (past Foundation's distantFuture, a range trapped).
                let backwards = try await client.execute(
                    uri: path + "/replay?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", method: .post, headers: auth)
                #expect(backwards.status == .badRequest)
                #expect(String(buffer: backwards.body).contains("since must be before until"))
                let empty = try await client.execute(
                    uri: path + "/replay?since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", method: .post, headers: auth)
                #expect(empty.status == .badRequest, "since not before until, as README says")
                let farFuture = try await client.execute(uri: path + "/replay?since=5000-01-01T00:00:00Z", method: .post, headers: auth)
                #expect(farFuture.status == .badRequest)
                #expect(String(buffer: farFuture.body).contains("between 1970 and 3000"))

                refusing.withLock { $0 = false }
                let replay = try await client.execute(uri: path + "/replay?dead_only=true", method: .post, headers: auth)
                #expect(replay.status == .ok)
                #expect(try JSONValue.parse(Array(buffer: replay.body))["requeued"] == 1)
                let delivered = await eventually { receiver.received.contains { $0.status == 200 } }
                #expect(delivered, "the replayed event reaches the console")
                // The receiver has the event before the dispatcher has taken it off the queue.
                let drained = try await eventually {
                    let queue = try JSONValue.parse(Array(buffer: try await client.execute(uri: path + "/queue", method: .get, headers: auth).body))
                    return queue["queue"]?.arrayValue?.isEmpty == true
                }
                #expect(drained, "the replayed event leaves the queue")
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(metrics.contains(#"tickwire_subscription_queued_events{subscription="demo/console",sink="console"} 0"#))
                #expect(metrics.contains(#"tickwire_subscription_circuit_open{subscription="demo/console",sink="console"} 0"#))
                #expect(metrics.contains(#"tickwire_subscription_dead_lettered_events_total{subscription="demo/console",sink="console"} 1"#))
            }
            await daemon.close()
        }
    }
}
