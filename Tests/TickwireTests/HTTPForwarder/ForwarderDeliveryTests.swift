import Foundation
import Logging
import Synchronization
import Testing
import TickwireCore
@testable import TickwireServer
@testable import TickwireSinks

/// The forwarder end to end: journal → dispatcher → HTTP sink → a real receiver on
/// loopback that fails, times out, answers 429 and recovers.
@Suite("HTTP forwarder delivery")
struct ForwarderDeliveryTests {
    let directory: TemporaryDirectory
    let subscription = Subscription(name: "console", org: "acme", sink: "console", from: .beginning)
    let logger = Logger.quiet

    init() throws {
        directory = try TemporaryDirectory()
    }

    var journalPath: String { directory.path + "/journal.sqlite" }

    func sink(_ url: String, options: String) async throws -> HTTPForwarderSink {
        let yaml = "sinks:\n  console: { type: http, url: \"\(url)\", \(options) }\n"
        let config = try ConfigLoader(registry: .standard, environment: [:]).load(path: try directory.write("c.yaml", yaml))
        let made = try await config.sinks["console"]!.make(SinkContext(name: "console", durability: .normal, logger: logger))
        return try #require(made as? HTTPForwarderSink)
    }

    /// Runs a dispatcher for the subscription until `body` returns, then shuts it down as
    /// the daemon does.
    func dispatching(_ sink: HTTPForwarderSink, journal: SQLiteJournal, _ body: () async throws -> Void) async throws {
        let dispatcher = SubscriptionDispatcher(subscription: subscription, sink: sink, journal: journal, logger: logger)
        try await dispatcher.prepareCursor()
        let service = DispatchService(dispatchers: [dispatcher], journal: journal, logger: logger)
        let task = Task { try await service.run() }
        defer { task.cancel() }
        try await body()
        task.cancel()
        _ = await task.result
    }

    /// The subscription's retry queue, empty if it cannot be read (for polling).
    func queue(_ journal: SQLiteJournal) async -> [QueuedEvent] {
        (try? await journal.queued(subscription: subscription.id, limit: 100)) ?? []
    }

    /// The message (subject) and status of a structured CloudEvents request.
    static func describe(_ received: Receiver.Received) -> (message: String, status: String, time: Date)? {
        guard let event = try? Event(cloudEventJSON: received.body), let status = event.status else { return nil }
        return (event.subject ?? "", status.rawValue, event.time)
    }

    /// The statuses each message's requests carried, in arrival order, failed ones included.
    static func requestsByMessage(_ received: [Receiver.Received], onlyDelivered: Bool = false) -> [String: [String]] {
        var byMessage: [String: [String]] = [:]
        for request in received where !onlyDelivered || request.status == 200 {
            guard let (message, status, _) = describe(request) else { continue }
            byMessage[message, default: []].append(status)
        }
        return byMessage
    }

    static let statuses: [MessageStatus] = [.sent, .delivered, .read]

    static func statusEvents(messages: [String]) -> [Event] {
        statuses.flatMap { status in messages.map { TestEvents.status(status, message: $0) } }
    }

    @Test func failuresTimeoutsAnd429KeepEachMessagesOrderAndHoldUpNoOtherMessage() async throws {
        let receiver = Receiver()
        let counts = Mutex<[String: Int]>([:])
        receiver.answer { request in
            guard let (message, status, _) = Self.describe(request) else { return .init(status: 400) }
            let seen = counts.withLock { counts in
                counts["\(message)/\(status)", default: 0] += 1
                return counts["\(message)/\(status)"]!
            }
            switch (message, status, seen) {
            case ("m0", "sent", 1): return .init(status: 503, headers: ["Retry-After": "1"])
            case ("m0", "sent", 2): return .init(status: 503)
            case ("m1", "delivered", 1): return .init(status: 429, headers: ["Retry-After": "1"])
            case ("m2", "sent", 1): return .init(status: 504, delay: .milliseconds(7000))  // the client times out first
            default: return .init()
            }
        }
        try await receiver.run { url in
            let journal = try SQLiteJournal(path: journalPath, durability: .normal)
            let sink = try await sink(
                // A timeout with room for a loaded machine: an answer that comes late is a
                // timeout too, and its event is sent twice.
                url, options: "concurrency: 4, timeout: 3s, retry: { initial_backoff: 100ms, max_backoff: 200ms }")
            let events = Self.statusEvents(messages: ["m0", "m1", "m2", "m3"])
            try await dispatching(sink, journal: journal) {
                // Each status in its own wave, as a provider sends them: later statuses of
                // m0 arrive while its first is waiting for a retry.
                for wave in 0..<3 {
                    try await journal.append(Array(events[(wave * 4)..<(wave * 4 + 4)]))
                    try await Task.sleep(for: .milliseconds(300))
                }
                let done = await eventually(timeout: .seconds(15)) {
                    let attempts = (try? await journal.attempts(subscription: subscription.id)) ?? []
                    return attempts.filter { $0.outcome == "delivered" }.count == events.count
                }
                #expect(done, "every event delivered")
            }
            let received = receiver.received
            // Each message's requests, failed ones included, carry its statuses in journal
            // order: a later status never overtakes an earlier one being retried.
            let all = Self.requestsByMessage(received)
            #expect(all["m0"] == ["sent", "sent", "sent", "delivered", "read"])
            #expect(all["m1"] == ["sent", "delivered", "delivered", "read"])
            #expect(all["m2"] == ["sent", "sent", "delivered", "read"])
            let m3Attempts = try await journal.attempts(subscription: subscription.id).filter { $0.eventID == events[3].id }
            #expect(all["m3"] == ["sent", "delivered", "read"], "m3's sent attempts: \(m3Attempts)")
            #expect(Self.requestsByMessage(received, onlyDelivered: true).values.allSatisfy { $0 == ["sent", "delivered", "read"] })

            // m3 is not held up by the others' retries; m1 waited for its Retry-After.
            let times = { (message: String, status: String) in
                received.filter { Self.describe($0)?.message == message && Self.describe($0)?.status == status }.map(\.at)
            }
            let m1Delivered = times("m1", "delivered")
            #expect(m1Delivered.count == 2)
            if m1Delivered.count == 2 { #expect(m1Delivered[1] - m1Delivered[0] >= .milliseconds(950), "Retry-After: 1 honoured") }
            if let m3Read = times("m3", "read").first, let m1Done = m1Delivered.last { #expect(m3Read < m1Done) }

            // Every attempt is recorded: status, latency, error.
            let attempts = try await journal.attempts(subscription: subscription.id)
            #expect(attempts.count == received.count)
            let m0Sent = attempts.filter { $0.eventID == events[0].id }
            #expect(m0Sent.map(\.status) == [503, 503, 200])
            #expect(m0Sent.map(\.attempt) == [1, 2, 3])
            #expect(m0Sent.map(\.outcome) == ["failed", "failed", "delivered"])
            let m2Sent = attempts.filter { $0.eventID == events[2].id }
            #expect(m2Sent.first?.status == nil && m2Sent.first?.error != nil, "a timeout is recorded with its error")
            #expect(m2Sent.first.map { $0.latency >= .milliseconds(2950) } == true)
            #expect(try await journal.queued(subscription: subscription.id, limit: 100).isEmpty)
            #expect(try await journal.deadLetters(subscription: subscription.id, limit: 100).isEmpty)
            try await journal.close()
        }
    }

    /// `max_age` ends the retries in any case: a Retry-After of an hour does not push the
    /// next attempt past it, and that attempt, failing, is the last.
    @Test func maxAgeCapsTheNextAttemptAndEndsTheRetries() async throws {
        let receiver = Receiver()
        receiver.answer { _ in Receiver.Answer(status: 503, headers: ["Retry-After": "3600"]) }
        try await receiver.run { url in
            let options = "timeout: 1s, retry: { max_age: 1s, initial_backoff: 100ms, max_backoff: 100ms }"
            let journal = try SQLiteJournal(path: journalPath, durability: .normal)
            try await dispatching(try await sink(url, options: options), journal: journal) {
                try await journal.append([TestEvents.status(.sent, message: "m0")])
                let tried = await eventually { await queue(journal).first?.attempts == 1 }
                #expect(tried)
                let parked = try #require(await queue(journal).first)
                let firstAttempt = try #require(parked.firstAttemptAt)
                #expect(parked.nextAttemptAt <= firstAttempt.addingTimeInterval(1.001), "not an hour later")
                let dead = await eventually(timeout: .seconds(10)) {
                    ((try? await journal.deadLetters(subscription: subscription.id, limit: 10)) ?? []).count == 1
                }
                #expect(dead, "the attempt at max_age was the last")
            }
            try await journal.close()
        }
    }

    @Test func aReceiverDownAcrossARestartLosesNothing() async throws {
        // Learn a free port, then leave nothing listening on it: the console is down.
        let address = Mutex<String?>(nil)
        try await Receiver().run { url in address.withLock { $0 = url } }
        let url = try #require(address.withLock { $0 })
        let port = try #require(Int(url.split(separator: ":").last!.split(separator: "/").first!))
        let options = "concurrency: 2, timeout: 1s, retry: { initial_backoff: 300ms, max_backoff: 300ms }"
        let events = Self.statusEvents(messages: ["m0", "m1"])

        let journal = try SQLiteJournal(path: journalPath, durability: .full)
        try await dispatching(try await sink(url, options: options), journal: journal) {
            try await journal.append(events)
            let parked = await eventually {
                await queue(journal).count == events.count
            }
            #expect(parked, "failed events and those behind them wait in the retry queue")
        }
        let queued = try await journal.queued(subscription: subscription.id, limit: 100)
        #expect(queued.filter { $0.attempts > 0 }.map(\.key).sorted() == ["m0", "m1"], "only each message's first event was tried")
        #expect(try await journal.cursor(subscription: subscription.id) == journal.lastSequence())
        try await journal.close()

        // Restart: a new journal instance, a new sink, and the console is back.
        let receiver = Receiver()
        try await receiver.run(port: port) { url in
            let reopened = try SQLiteJournal(path: journalPath, durability: .full)
            try await dispatching(try await sink(url, options: options), journal: reopened) {
                let done = await eventually {
                    let empty = await queue(reopened).isEmpty
                    return receiver.received.count == events.count && empty
                }
                #expect(done, "every event arrives after the restart")
            }
            #expect(Self.requestsByMessage(receiver.received).values.allSatisfy { $0 == ["sent", "delivered", "read"] })
            try await reopened.close()
        }
    }

    @Test func anOpenCircuitCostsOneRequestPerProbeIntervalAndClosesOnItsOwn() async throws {
        let receiver = Receiver()
        let healthy = Mutex(false)
        receiver.answer { _ in .init(status: healthy.withLock { $0 } ? 200 : 503) }
        try await receiver.run { url in
            let journal = try SQLiteJournal(path: journalPath, durability: .normal)
            let sink = try await sink(
                url,
                options: """
                    concurrency: 4, circuit_breaker: { failures: 3, probe_interval: 1s },
                    retry: { max_attempts: 1000, initial_backoff: 50ms, max_backoff: 100ms }
                    """)
            let events = (0..<40).map { TestEvents.status(.sent, message: "m\($0)") }
            try await dispatching(sink, journal: journal) {
                try await journal.append(events)
                try await Task.sleep(for: .seconds(3))
                // 3 failures open it, up to 4 were in flight, then about one probe a second.
                let whileDown = receiver.received.count
                #expect(whileDown <= 12, "\(whileDown) requests while the console was down")
                #expect(sink.circuitBreaker?.isOpen == true)
                healthy.withLock { $0 = true }
                // Settled too: a stop while a 200 is on its way back cuts that delivery short.
                let recovered = await eventually(timeout: .seconds(10)) {
                    let empty = await queue(journal).isEmpty
                    return Set(receiver.received.filter { $0.status == 200 }.compactMap { Self.describe($0)?.message }).count == events.count
                        && empty
                }
                #expect(recovered, "the circuit closes after a successful probe and the backlog drains")
            }
            #expect(sink.circuitBreaker?.isOpen == false)
            try await journal.close()
        }
    }

    /// A delivery cancelled (the dispatcher's task is, when a shutdown's grace period runs
    /// out, and here) says nothing of the console: it must not count toward opening the
    /// circuit, which the sink keeps across a reload.
    @Test func aCancelledDeliveryDoesNotOpenTheCircuit() async throws {
        let receiver = Receiver()
        receiver.answer { _ in .init(status: 200, delay: .seconds(3)) }
        try await receiver.run { url in
            let journal = try SQLiteJournal(path: journalPath, durability: .normal)
            let sink = try await sink(url, options: "timeout: 10s, circuit_breaker: { failures: 1, probe_interval: 1m }")
            try await dispatching(sink, journal: journal) {
                try await journal.append([TestEvents.status(.sent, message: "m0")])
                #expect(await eventually { !receiver.received.isEmpty }, "the delivery is in flight")
            }
            #expect(sink.circuitBreaker?.isOpen == false)
            try await journal.close()
        }
    }

    @Test func deadLettersAreReplayedOnceAndPendingEventsAreNotDuplicated() async throws {
        let receiver = Receiver()
        let refusing = Mutex(true)
        receiver.answer { _ in .init(status: refusing.withLock { $0 } ? 410 : 200) }
        try await receiver.run { url in
            let journal = try SQLiteJournal(path: journalPath, durability: .normal)
            let sink = try await sink(url, options: "concurrency: 2")
            let events = (0..<3).map { TestEvents.status(.read, message: "m\($0)") }
            try await dispatching(sink, journal: journal) {
                try await journal.append(events)
                let dead = await eventually {
                    ((try? await journal.deadLetters(subscription: subscription.id, limit: 100)) ?? []).count == 3
                }
                #expect(dead, "a 410 goes to the dead letter at once")
                let letters = try await journal.deadLetters(subscription: subscription.id, limit: 100)
                #expect(letters.allSatisfy { $0.reason == "HTTP 410" && $0.attempts == 1 })

                refusing.withLock { $0 = false }
                #expect(try await Replay(deadOnly: true).run(journal: journal, subscription: subscription) == 3)
                #expect(try await Replay(deadOnly: true).run(journal: journal, subscription: subscription) == 0, "nothing twice")
                // Settled too: the receiver answers before the dispatcher takes the events
                // out of the retry queue, and a range replay skips events still queued.
                let replayed = await eventually {
                    let empty = await queue(journal).isEmpty
                    return receiver.received.filter { $0.status == 200 }.count == 3 && empty
                }
                #expect(replayed)
                #expect(try await journal.deadLetters(subscription: subscription.id, limit: 100).isEmpty)

                // A replay of everything in a time range sends delivered events again, once.
                let range = try Replay(since: Date().addingTimeInterval(-60), until: Date().addingTimeInterval(60))
                #expect(try await range.run(journal: journal, subscription: subscription) == 3)
                #expect(try await Replay(since: Date().addingTimeInterval(-3600), until: Date().addingTimeInterval(-1800))
                    .run(journal: journal, subscription: subscription) == 0, "nothing received then")
                let again = await eventually { receiver.received.filter { $0.status == 200 }.count == 6 }
                #expect(again)
            }
            try await journal.close()
        }
    }

    @Test func batchesCarrySeveralMessagesEachInOrder() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            let journal = try SQLiteJournal(path: journalPath, durability: .normal)
            let sink = try await sink(url, options: "format: cloudevents-batch, batch_size: 50, batch_wait: 20ms")
            // 30 messages with 10 events each, interleaved as they would arrive.
            let events = (0..<10).flatMap { step in
                (0..<30).map { TestEvents.status(.sent, message: "m\($0)", at: 1_700_000_000 + Double(step)) }
            }
            try await dispatching(sink, journal: journal) {
                try await journal.append(events)
                let done = await eventually {
                    receiver.received.reduce(0) { $0 + ((try? JSONValue.parse($1.body).arrayValue?.count) ?? 0) } == events.count
                }
                #expect(done)
            }
            let received = receiver.received
            #expect(received.count <= 12, "\(received.count) requests for \(events.count) events")
            var times: [String: [Double]] = [:]
            for request in received {
                #expect(request.headers["content-type"] == "application/cloudevents-batch+json")
                for item in try JSONValue.parse(request.body).arrayValue ?? [] {
                    let event = try Event(cloudEvent: item)
                    times[event.subject ?? "", default: []].append(event.time.timeIntervalSince1970)
                }
            }
            #expect(times.count == 30)
            #expect(times.values.allSatisfy { $0 == $0.sorted() && $0.count == 10 }, "each message's events once, in order")
            try await journal.close()
        }
    }
}
