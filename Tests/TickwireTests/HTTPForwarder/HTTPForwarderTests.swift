import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing
import TickwireCore
@testable import TickwireSinks

/// A receiver on loopback that records every request and answers from a script, or from
/// a rule that looks at the request.
final class Receiver: Sendable {
    struct Received: Sendable {
        var headers: [String: String]
        var body: [UInt8]
        var at = ContinuousClock.now
        /// The status it was answered with.
        var status = 200
    }

    /// How to answer a request: status, headers, and how long to wait first.
    struct Answer: Sendable {
        var status = 200
        var headers: [String: String] = [:]
        var delay: Duration = .zero
    }

    private let state = Mutex<(received: [Received], script: [(Int, [String: String])])>(([], []))
    private let rule = Mutex<(@Sendable (Received) -> Answer)?>(nil)
    private let hold = Mutex<(@Sendable () async -> Void)?>(nil)

    var received: [Received] { state.withLock { $0.received } }

    /// The next answers, in order; after them every request gets 200.
    func script(_ answers: [(Int, [String: String])]) { state.withLock { $0.script = answers } }

    /// Answers every request (once the script is used up) with `decide`.
    func answer(_ decide: @escaping @Sendable (Received) -> Answer) { rule.withLock { $0 = decide } }

    /// Runs `wait` in every request before it is answered.
    func holding(_ wait: @escaping @Sendable () async -> Void) { hold.withLock { $0 = wait } }

    func run(port: Int = 0, _ body: @escaping @Sendable (_ url: String) async throws -> Void) async throws {
        let router = Router()
        router.post("/hooks") { [self] request, _ -> Response in
            let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 22))
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            var received = Received(headers: headers, body: bytes)
            let decide = rule.withLock { $0 }
            let answer = state.withLock { state -> Answer in
                if !state.script.isEmpty {
                    let (status, extra) = state.script.removeFirst()
                    return Answer(status: status, headers: extra)
                }
                return decide?(received) ?? Answer()
            }
            received.status = answer.status
            state.withLock { $0.received.append(received) }
            if let wait = hold.withLock({ $0 }) { await wait() }
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            var response = Response(status: .init(code: answer.status))
            if let retryAfter = answer.headers["Retry-After"] { response.headers[.retryAfter] = retryAfter }
            return response
        }
        // A console that moved, and one that sends its head and then hardly any body.
        router.post("/moved") { _, _ in Response(status: .movedPermanently, headers: [.location: "/hooks"]) }
        router.post("/trickle") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "{"))
                try await Task.sleep(for: .seconds(120))
                try await writer.finish(nil)
            })
        }
        let boundPort = Mutex<Int?>(nil)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in boundPort.withLock { $0 = channel.localAddress?.port } }, logger: .quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            while boundPort.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            try await body("http://127.0.0.1:\(boundPort.withLock { $0! })/hooks")
            group.cancelAll()
        }
    }
}

@Suite("HTTP forwarder")
struct HTTPForwarderTests {
    static let secret = "whsec_" + Data("a-test-signing-key-of-32-bytes!!".utf8).base64EncodedString()

    func sink(_ url: String, format: String = "cloudevents", extra: String = "") async throws -> HTTPForwarderSink {
        let directory = try TemporaryDirectory()
        let yaml = "sinks:\n  console: { type: http, url: \"\(url)\", format: \(format), secret: \"\(Self.secret)\"\(extra) }\n"
        let config = try ConfigLoader(registry: .standard, environment: [:]).load(path: try directory.write("c.yaml", yaml))
        let made = try await config.sinks["console"]!.make(SinkContext(name: "console", durability: .normal, logger: .quiet))
        return try #require(made as? HTTPForwarderSink)
    }

    /// Verifies a Standard Webhooks signature the way the spec describes it.
    static func verify(_ received: Receiver.Received) -> Bool {
        guard let id = received.headers["webhook-id"], let timestamp = received.headers["webhook-timestamp"],
            let signatures = received.headers["webhook-signature"]
        else { return false }
        let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst(6)))!)
        let expected = Data(HMAC<SHA256>.authenticationCode(for: Array("\(id).\(timestamp).".utf8) + received.body, using: key)).base64EncodedString()
        return signatures.split(separator: " ").contains { $0 == "v1,\(expected)" }
    }

    @Test func structuredEventsAreSignedAndDeliveredInOrder() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            let sink = try await sink(url)
            let events = (0..<3).map { TestEvents.status(.sent, message: "m\($0)") }
            let report = await sink.deliver(events)
            #expect(report.outcomes == Array(repeating: .delivered, count: 3))
            #expect(report.request?.status == 200)
            let received = receiver.received
            #expect(received.map { try? Event(cloudEventJSON: $0.body).id } == events.map(\.id))
            #expect(received.allSatisfy { $0.headers["content-type"] == "application/cloudevents+json" })
            #expect(received.allSatisfy(Self.verify), "Standard Webhooks signatures verify")
            #expect(received.first?.headers["webhook-id"] == events.first?.id)
        }
    }

    @Test func failuresKeepOrderAndClassifyAnswers() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            let sink = try await sink(url)
            let events = (0..<3).map { TestEvents.status(.sent, message: "m\($0)") }
            receiver.script([(200, [:]), (503, [:])])
            let report = await sink.deliver(events)
            try #require(report.outcomes.count == 3)
            #expect(report.outcomes[0] == .delivered)
            #expect(report.outcomes[1] == .retry(reason: "HTTP 503", after: nil))
            #expect(report.outcomes[2] == report.outcomes[1], "the event after a failure is not sent before it")
            #expect(receiver.received.count == 2)
            receiver.script([(429, ["Retry-After": "7"]), (400, [:])])
            #expect(await sink.deliver([events[1]]).outcomes == [.retry(reason: "HTTP 429", after: .seconds(7))])
            #expect(await sink.deliver([events[2]]).outcomes == [.reject(reason: "HTTP 400")])
        }
    }

    @Test func binaryAndBatchModes() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            let events = (0..<3).map { TestEvents.status(.read, message: "m\($0)") }
            #expect(try await sink(url, format: "cloudevents-binary").deliver([events[0]]).outcomes == [.delivered])
            let binary = try #require(receiver.received.last)
            #expect(binary.headers["ce-id"] == events[0].id)
            #expect(binary.headers["ce-type"] == "message.read")
            #expect(binary.headers["ce-specversion"] == "1.0")
            // Header values are percent-encoded where the HTTP binding says so.
            #expect(HTTPForwarderRequest.headerValue("+1 555 \"x\" 100% é\n") == "+1%20555%20%22x%22%20100%25%20%C3%A9%0A")
            #expect(HTTPForwarderRequest.headerValue("wamid.HBgL=") == "wamid.HBgL=")
            #expect(try JSONValue.parse(binary.body)["message_id"] == "m0")
            #expect(Self.verify(binary))
            #expect(try await sink(url, format: "cloudevents-batch").deliver(events).outcomes == Array(repeating: .delivered, count: 3))
            let batch = try #require(receiver.received.last)
            #expect(batch.headers["content-type"] == "application/cloudevents-batch+json")
            #expect(try JSONValue.parse(batch.body).arrayValue?.count == 3)
            #expect(Self.verify(batch))
        }
    }

    @Test func nativeSendsTheProvidersBytesUnchanged() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            var event = TestEvents.status(.delivered, message: "m0")
            // Odd spacing, escaped slashes and unicode: re-serializing would change them.
            let body = Array(#"{ "entry" : [ {"id":"1\/2", "text":"café"} ] }"#.utf8)
            event.raw = RawPayload(contentType: "application/json; charset=utf-8", body: body)
            #expect(try await sink(url, format: "native").deliver([event]).outcomes == [.delivered])
            let received = try #require(receiver.received.last)
            #expect(received.body == body)
            #expect(received.headers["content-type"] == "application/json; charset=utf-8")
            #expect(received.headers["webhook-id"] == event.id)
            #expect(Self.verify(received))
        }
    }

    @Test func requestBodiesAreKeptOnlyForOrgsWithANativeSubscription() throws {
        let directory = try TemporaryDirectory()
        let yaml = """
            sinks:
              bytes: { type: http, url: "http://127.0.0.1:9/a", format: native }
              events: { type: http, url: "http://127.0.0.1:9/b" }
            orgs:
              acme: { subscriptions: [ { sink: bytes }, { sink: events } ] }
              globex: { subscriptions: [ { sink: events } ] }
            """
        let config = try ConfigLoader(registry: .standard, environment: [:]).load(path: try directory.write("c.yaml", yaml))
        #expect(config.orgs["acme"]?.keepsRawPayload == true)
        #expect(config.orgs["globex"]?.keepsRawPayload == false)
    }

    @Test func downDestinationIsRetriedNotLost() async throws {
        // Nothing listens on this port: a connection error is a retry, never a rejection.
        let sink = try await sink("http://127.0.0.1:9/hooks", extra: ", timeout: 2s")
        let report = await sink.deliver([TestEvents.status(.sent, message: "m")])
        guard case .retry = report.outcomes.first else {
            Issue.record("expected a retry, got \(report)")
            return
        }
    }

    /// AsyncHTTPClient keeps 8 HTTP/1 connections per host unless told otherwise: the 9th
    /// request at once waited for one, inside its timeout, and failed.
    @Test func concurrencyIsNotCappedByTheConnectionPool() async throws {
        // Each request is held until 16 are in at once (or 10 s pass): with the pool's cap,
        // at most 8 ever are. Nothing here depends on how fast the machine is.
        let inFlight = Mutex((now: 0, most: 0))
        let receiver = Receiver()
        receiver.holding {
            inFlight.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            let deadline = ContinuousClock.now + .seconds(10)
            while inFlight.withLock({ $0.most }) < 16, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            inFlight.withLock { $0.now -= 1 }
        }
        try await receiver.run { url in
            let sink = try await self.sink(url, extra: ", concurrency: 16, timeout: 60s")
            let events = (0..<16).map { TestEvents.status(.sent, message: "m\($0)") }
            let outcomes = await withTaskGroup(of: [DeliveryOutcome].self) { group in
                for event in events { group.addTask { await sink.deliver([event]).outcomes } }
                return await group.reduce(into: []) { $0 += $1 }
            }
            #expect(outcomes.count == 16 && outcomes.allSatisfy { $0 == .delivered })
            #expect(inFlight.withLock { $0.most } == 16, "requests at once")
        }
    }

    /// A redirect is not followed: a 301 would turn the POST into a GET without the event,
    /// and a 307 would send it and the headers elsewhere. It is an answer, like a 404.
    @Test func redirectsAreNotFollowed() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            let sink = try await sink(url.replacingOccurrences(of: "/hooks", with: "/moved"))
            let report = await sink.deliver([TestEvents.status(.sent, message: "m")])
            #expect(report.outcomes == [.reject(reason: "HTTP 301")])
            #expect(receiver.received.isEmpty, "nothing reached /hooks")
        }
    }

    /// `timeout` bounds the whole request, the answer's body included.
    @Test func aTricklingAnswerEndsAtTheTimeout() async throws {
        let receiver = Receiver()
        try await receiver.run { url in
            // 3 s: the answer's head must come within it, on a machine running the whole suite.
            let sink = try await sink(url.replacingOccurrences(of: "/hooks", with: "/trickle"), extra: ", timeout: 3s")
            let started = ContinuousClock.now
            let report = await sink.deliver([TestEvents.status(.sent, message: "m")])
            // Far below the trickle's two minutes, with room for a loaded machine (11 s seen
            // with a release build beside the suite).
            #expect(ContinuousClock.now - started < .seconds(60))
            #expect(report.outcomes == [.delivered], "the console answered 200")
        }
    }

    @Test func retryAfterAcceptsSecondsAndDates() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(HTTPForwarderSink.retryAfter("120", now: now) == .seconds(120))
        #expect(HTTPForwarderSink.retryAfter("Tue, 14 Nov 2023 22:14:20 GMT", now: now) == .seconds(60))
        #expect(HTTPForwarderSink.retryAfter("soon", now: now) == nil)
    }

    @Test func badConfigIsRefusedWithoutEchoingTheSecret() throws {
        let directory = try TemporaryDirectory()
        let yaml = "sinks:\n  c: { type: http, url: \"ftp://x\", secret: \"not-base64-secret!!\" }\n"
        #expect(throws: ConfigErrors.self) { try ConfigLoader(registry: .standard, environment: [:]).load(path: try directory.write("c.yaml", yaml)) }
        do {
            _ = try ConfigLoader(registry: .standard, environment: [:]).load(path: try directory.write("c.yaml", yaml))
        } catch {
            #expect(!"\(error)".contains("not-base64-secret"))
        }
        /// The loader's errors for a sink with `url` and `options`; nil when it loads.
        func refusal(url: String = "https://console.example/hooks", _ options: String = "", environment: [String: String] = [:]) throws -> String? {
            let yaml = "sinks:\n  c: { type: http, url: \"\(url)\"\(options) }\n"
            do {
                _ = try ConfigLoader(registry: .standard, environment: environment).load(path: try directory.write("c.yaml", yaml))
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(try refusal() == nil)
        // A secret read from a file with its newline would reach logs through the client's
        // error; credentials in the URL would never be sent; a huge timeout overflows.
        let newline = try refusal(", headers: { Authorization: \"${TOKEN}\" }", environment: ["TOKEN": "Bearer s3cret-token\n"])
        #expect(newline?.contains("TOKEN holds a line break") == true)
        #expect(newline?.contains("s3cret-token") == false)
        let written = try refusal(", headers: { Authorization: \"Bearer s3cret-token\\n\" }")
        #expect(written?.contains("the value of \"Authorization\" holds a line break") == true)
        #expect(written?.contains("s3cret-token") == false)
        #expect(try refusal(", headers: { \"X Bad\": v }")?.contains("\"X Bad\" is not a valid header name") == true)
        // A signing key short enough to guess from one signed request (Standard Webhooks:
        // 24 to 64 bytes); one of 24 bytes, what consoles generate, loads.
        let short = "whsec_" + Data("sixteen-byte-key".utf8).base64EncodedString()
        let refusedShort = try refusal(", secret: \"\(short)\"")
        #expect(refusedShort?.contains("the key is 16 bytes, at least 24") == true)
        #expect(refusedShort?.contains(short) == false)
        #expect(try refusal(", secret: \"whsec_\(Data(repeating: 7, count: 24).base64EncodedString())\"") == nil)
        let withUser = try refusal(url: "https://user:pa55@console.example/hooks")
        #expect(withUser?.contains("must not hold a user or password") == true)
        #expect(withUser?.contains("pa55") == false)
        #expect(try refusal(", timeout: 3000000h")?.contains("too long") == true)
        // A backoff of zero spends every attempt within milliseconds.
        #expect(try refusal(", retry: { initial_backoff: 0s }")?.contains("initial_backoff must be longer than zero") == true)
        #expect(try refusal(", retry: { initial_backoff: 10m, max_backoff: 1m }")?.contains("max_backoff must not be shorter") == true)
    }
}
