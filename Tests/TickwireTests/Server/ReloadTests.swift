import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TickwireCore
@testable import TickwireServer
import TickwireSinks

@Suite("Configuration reload")
struct ReloadTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    func post(_ client: some TestClientProtocol, _ uri: String, _ body: [UInt8]) async throws -> HTTPResponse.Status {
        try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body)).status
    }

    @Test func validConfigIsSwappedInAndInvalidOneIsRefused() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let path = directory.path + "/config.yaml"
        let loader = ConfigLoader(registry: .standard, environment: [:])
        let body = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_read.json")
        try await daemon.application().test(.live) { client in
            #expect(try await post(client, "/v1/webhooks/acme/gs", body) == .notFound)

            // A new org with its own sink and subscription, and a new token for demo.
            _ = try TestDaemon.config(
                in: directory, extraSinks: ["acme-archive: { type: file, path: \"\(directory.path)/out/acme.jsonl\" }"],
                extra: "  acme:\n    channels: { gs: { provider: gupshup, auth: { type: none } } }\n    subscriptions: [ { sink: acme-archive } ]")
            let next = try String(contentsOfFile: path, encoding: .utf8)
                .replacingOccurrences(of: TestDaemon.token, with: "rotated-token-0123456789")
            try next.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(await daemon.reload(from: path, loader: loader).isEmpty)
            #expect(try await post(client, "/v1/webhooks/acme/gs", body) == .ok)
            #expect(await eventually { directory.lines("out/acme.jsonl").count == 1 }, "the new subscription delivers")
            #expect(try await post(client, "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", body) == .unauthorized)
            #expect(try await post(client, "/v1/webhooks/demo/gupshup?token=rotated-token-0123456789", body) == .ok)

            // An invalid file is refused; the running configuration keeps serving.
            try (next + "\nbogus: 1\n").write(toFile: path, atomically: true, encoding: .utf8)
            let errors = await daemon.reload(from: path, loader: loader)
            #expect(errors.first?.contains("unknown key \"bogus\"") == true)
            #expect(try await post(client, "/v1/webhooks/acme/gs", body) == .ok)
            let metrics = String(decoding: daemon.metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains(#"tickwire_config_reloads_total{result="ok"} 1"#))
            #expect(metrics.contains(#"tickwire_config_reloads_total{result="failed"} 1"#))
        }
        await daemon.close()
    }

    /// Settings read once at start are named in a warning, not silently ignored.
    @Test func settingsReadAtStartAreNamedInAWarning() async throws {
        let log = LogRecorder()
        let daemon = try await TestDaemon.open(in: directory, logger: log.logger(level: .info))
        var next = try TestDaemon.config(in: directory)
        next.storage.retention = ConfigDuration(duration: .seconds(3600), description: "1h")
        next.logging.level = .debug
        next.server.maxBodyBytes = 1024
        try await daemon.reload(next)
        let warning = log.records.first { $0.message.contains("next restart") }
        #expect(warning?.level == .warning)
        #expect(warning?.metadata["settings"] == "storage.retention,logging.level", "max_body_bytes applies at once")
        // A second reload still waits for the restart: warned again, against the start.
        next.server.maxBodyBytes = 2048
        try await daemon.reload(next)
        let warnings = log.records.filter { $0.message.contains("next restart") }
        #expect(warnings.map { $0.metadata["settings"] } == ["storage.retention,logging.level", "storage.retention,logging.level"])
        // The same durations written another way are no change.
        var same = next
        same.storage.retention = ConfigDuration(duration: .seconds(3600), description: "60m")
        #expect(Daemon.settingsReadAtStart(changedFrom: next, to: same).isEmpty)
        await daemon.close()
    }

    /// `storage.durability` takes effect at a restart, for the sinks as for the journal: a
    /// store reopened by a reload (its options changed) keeps the durability the daemon
    /// started with, or it would stop syncing behind a journal that still does.
    @Test func aSinkReopenedByAReloadKeepsTheDurabilityOfTheStart() async throws {
        func config(store: String, durability: Durability) throws -> Config {
            try TestDaemon.config(
                in: directory, durability: durability,
                extraSinks: ["store: { type: sqlite, path: \"\(directory.path)/\(store).sqlite\" }"])
        }
        let daemon = try await Daemon.open(config: try config(store: "first", durability: .full), logger: .quiet)
        let first = try #require(daemon.sink(named: "store") as? StatusStoreSink)
        #expect(try await first.synchronousMode() == 2)
        try await daemon.reload(try config(store: "second", durability: .normal))
        let reopened = try #require(daemon.sink(named: "store") as? StatusStoreSink)
        #expect(reopened !== first, "its options changed: reopened")
        #expect(try await reopened.synchronousMode() == 2, "still FULL until the restart")
        await daemon.close()
    }

    /// A removed subscription keeps its cursor and dead letters for `storage.retention`: a
    /// plugins.d file missing at one reload must not lose what it had not delivered. Back
    /// in the configuration, it resumes at its cursor (what came meanwhile included); once
    /// retention forgets it, it no longer holds anything back.
    @Test func aRemovedSubscriptionKeepsItsStateUntilRetentionForgetsIt() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let first = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_read.json")
        let second = try RepositoryFiles.corpusFile("gupshup/glific_message_event_failed_1002_number_not_on_whatsapp.json")
        try await daemon.application().test(.live) { client in
            #expect(try await post(client, "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", first) == .ok)
            #expect(await eventually { directory.lines("out/demo/events.jsonl").count == 1 })
            var dead = DeliverySettlement()
            dead.deadLetters = [DeadLetter(sequence: 1, eventID: "e", attempts: 1, reason: "refused")]
            try await daemon.journal.settle(dead, subscription: "demo/archive")
            let before = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(before.contains(#"tickwire_subscription_backlog_events{subscription="demo/archive",sink="archive"}"#))
            let configured = try TestDaemon.config(in: directory)
            var removed = configured
            removed.orgs["demo"]?.subscriptions = []
            try await daemon.reload(removed)
            #expect(try await daemon.journal.cursor(subscription: "demo/archive") == 1)
            #expect(try await daemon.journal.deadLetters(subscription: "demo/archive").count == 1)
            // Its gauges go: a frozen backlog would keep an alert firing.
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            for gauge in ["backlog_events", "queued_events", "circuit_open"] {
                #expect(!metrics.contains(#"tickwire_subscription_\#(gauge){subscription="demo/archive""#), "\(gauge)")
            }

            // Accepted while it was gone, delivered when it is back (not skipped as `from: end` would).
            #expect(try await post(client, "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", second) == .ok)
            try await daemon.reload(configured)
            #expect(await eventually { directory.lines("out/demo/events.jsonl").count == 2 })
            #expect(try await daemon.journal.forgetRetiredSubscriptions(olderThan: .zero).isEmpty, "configured again: not retired")

            // A reload that fails (a sink that cannot open) leaves the running subscription
            // as it was: not retired, though the failed configuration lacked it.
            var broken = try TestDaemon.config(in: directory, extraSinks: [#"broken: { type: sqlite, path: "/dev/null/store.sqlite" }"#])
            broken.orgs["demo"]?.subscriptions = [Subscription(name: "broken", org: "demo", sink: "broken")]
            await #expect(throws: (any Error).self) { try await daemon.reload(broken) }
            #expect(try await daemon.journal.forgetRetiredSubscriptions(olderThan: .zero).isEmpty, "still configured: not retired")
            #expect(try await daemon.journal.cursor(subscription: "demo/archive") != nil)

            try await daemon.reload(removed)
            #expect(try await daemon.journal.forgetRetiredSubscriptions(olderThan: .seconds(3600)).isEmpty, "too young")
            // Retired two hours ago; a reload that brings it back and fails puts that time
            // back: retention's clock does not restart with each failed attempt.
            try await daemon.journal.pool.write { db in try db.execute(sql: "UPDATE retired_subscriptions SET retired_at = retired_at - 7200") }
            var backButBroken = broken
            backButBroken.orgs["demo"]?.subscriptions.append(Subscription(name: "archive", org: "demo", sink: "archive"))
            await #expect(throws: (any Error).self) { try await daemon.reload(backButBroken) }
            #expect(try await daemon.journal.forgetRetiredSubscriptions(olderThan: .seconds(3600)) == ["demo/archive"])
            #expect(try await daemon.journal.cursor(subscription: "demo/archive") == nil)
            #expect(try await daemon.journal.deadLetters(subscription: "demo/archive").isEmpty)
        }
        #expect(directory.lines("out/demo/events.jsonl").count == 2, "nothing delivered twice")
        await daemon.close()
    }

    @Test func unchangedSinksAndDispatchersSurviveAReload() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let before = daemon.dispatchers.map(ObjectIdentifier.init)
        try await daemon.reload(try TestDaemon.config(in: directory))
        #expect(daemon.dispatchers.map(ObjectIdentifier.init) == before, "same route: the same dispatcher keeps running")
        try await daemon.reload(try TestDaemon.config(in: directory, extraSinks: ["spare: { type: file, path: x.jsonl }"]))
        #expect(daemon.dispatchers.map(ObjectIdentifier.init) == before, "an unrelated sink leaves it alone")
        let moved = try TestDaemon.config(in: directory, archive: directory.path + "/out/moved.jsonl")
        try await daemon.reload(moved)
        #expect(daemon.dispatchers.map(ObjectIdentifier.init) != before, "changed sink options: a new dispatcher")
        await daemon.close()
    }
}
