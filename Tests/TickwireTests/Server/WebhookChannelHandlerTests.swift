import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
import TickwireCore
@testable import TickwireServer

/// Webhook POSTs are answered on the event loop (`WebhookChannelHandler`), other requests by
/// the router: on one connection, answers must still come in request order.
@Suite("Webhooks answered on the event loop", .timeLimit(.minutes(1)))
struct WebhookChannelHandlerTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    static func post(_ path: String, _ body: [UInt8], connection: String? = nil) -> String {
        "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            + (connection.map { "Connection: \($0)\r\n" } ?? "") + "\r\n" + String(decoding: body, as: UTF8.self)
    }

    static let healthz = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"

    /// Writes `text` at once on a new connection and reads until `responses` answers came
    /// or the server closed the connection; returns the status lines in order and whether
    /// the server closed.
    /// With `halfClose`, the client shuts its sending side down once `text` is written.
    static func exchange(port: Int, _ text: String, responses: Int, halfClose: Bool = false) async throws -> (statuses: [Int], closed: Bool) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
            channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: halfClose))
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: text))
            if halfClose { outbound.finish() }
            var received = ""
            var closed = true
            for try await chunk in inbound {
                received += String(buffer: chunk)
                if statusLines(received).count >= responses, received.hasSuffix("}") || received.hasSuffix("\r\n\r\n") {
                    closed = false
                    break
                }
            }
            return (statusLines(received), closed)
        }
    }

    /// A connection on an embedded channel, `ingest` behind it, that has sent a POST's head
    /// to `uri` and `bodyBytes` bytes of its body.
    static func embeddedPost(
        _ ingest: WebhookIngest, uri: String, contentType: String = "application/json", bodyBytes: Int = 800
    ) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(WebhookChannelHandler(ingest: ingest, idleTimeout: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: uri)
        head.headers.add(name: "Content-Type", value: contentType)
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(repeating: UInt8(ascii: " "), count: bodyBytes)))
        return channel
    }

    static func statusLines(_ text: String) -> [Int] {
        // A status line follows the previous body directly (no line break after a body).
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let read = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_read.json")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            // A webhook first (answered on the loop), then the router, then a refused webhook.
            let first = try await Self.exchange(
                port: port, Self.post(path, sent) + Self.healthz + Self.post("/v1/webhooks/demo/nope", sent), responses: 3)
            #expect(first.statuses == [200, 200, 404])
            // The router first: the webhook behind it must not overtake it.
            let second = try await Self.exchange(port: port, Self.healthz + Self.post(path, read) + Self.healthz, responses: 3)
            #expect(second.statuses == [200, 200, 200])
        }
        #expect(try await daemon.journal.count() == 2)
        await daemon.close()
    }

    /// A HEAD after a webhook on one connection is framed as a HEAD (no body), and the GET
    /// after it as a GET: webhook answers bypass NIO's encoder, which used to pair each
    /// answer with the wrong request's method (and kept one entry per webhook for good).
    @Test func headAfterAWebhookIsAnsweredWithoutABody() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let head = "HEAD /readyz HTTP/1.1\r\nHost: test\r\n\r\n"
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            let received = try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: Self.post("/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", sent) + head + Self.healthz))
                var received = ""
                for try await chunk in inbound {
                    received += String(buffer: chunk)
                    if received.hasSuffix(#"{"status":"ok"}"#) { break }
                }
                return received
            }
            #expect(Self.statusLines(received) == [200, 200, 200])
            // The HEAD answer's header block is followed directly by the GET's status line.
            let afterHead = received.components(separatedBy: "HTTP/1.1 ").dropFirst(2).first ?? ""
            #expect(afterHead.hasSuffix("\r\n\r\n"), "a HEAD answer with a body: \(afterHead)")
            #expect(received.hasSuffix(#"{"status":"ok"}"#))
        }
        await daemon.close()
    }

    @Test func aLongPipelineIsAnsweredWholeAndInOrder() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let template = try String(decoding: RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json"), as: UTF8.self)
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        // Distinct events (ids differ), sent in one write: far more than one read's worth,
        // so reading must pause while parts are held and resume after each answer.
        let count = 300
        let webhooks = (0..<count).map { i in
            let body = template.replacingOccurrences(of: "\"id\": \"", with: "\"id\": \"pipelined-\(i)-")
                .replacingOccurrences(of: "\"gsId\": \"", with: "\"gsId\": \"pipelined-\(i)-")
            #expect(body != template)
            return Self.post(path, Array(body.utf8)) + (i % 50 == 49 ? Self.healthz : "")
        }
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let answers = try await Self.exchange(port: port, webhooks.joined(), responses: count + count / 50)
            #expect(answers.statuses == Array(repeating: 200, count: count + count / 50))
            #expect(!answers.closed)
        }
        #expect(try await daemon.journal.count() == count)
        await daemon.close()
    }

    /// Refusals held behind a webhook's answer are answered one after another once it is
    /// written, from one loop: each used to answer the next from inside its own answer, one
    /// stack frame deeper per request, on the event loop's stack.
    @Test func thousandsOfRefusalsHeldBehindAWebhookAreAnsweredInOrder() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let refusals = 3_000
        let refused = String(repeating: "POST /v1/webhooks/x/y HTTP/1.1\r\nContent-Length: 0\r\n\r\n", count: refusals)
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            // Reads grow to the allocator's largest during a large body: then one read cycle
            // holds up to ~5000 of these requests, all held while the webhook is committed.
            let warm = [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20)
            let answers = try await Self.exchange(
                port: port,
                Self.post("/v1/webhooks/demo/gupshup", warm) + Self.post("/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", sent)
                    + refused + Self.healthz,
                responses: refusals + 3)
            #expect(answers.statuses.count == refusals + 3)
            #expect(answers.statuses.prefix(2) == [401, 200], "no token: refused from the head, whatever the body")
            #expect(answers.statuses.dropFirst(2).prefix(refusals).allSatisfy { $0 == 404 })
            #expect(answers.statuses.last == 200)
        }
        await daemon.close()
    }

    /// A client that pipelines requests and never reads the answers is not read from while
    /// its answers wait: refusals are answered at once, and without this the write queue
    /// would grow for as long as such a client kept sending.
    @Test func readsWaitWhileAnswersCannotBeWritten() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let ingest = WebhookIngest(gateway: daemon.gateway, metrics: GatewayMetrics(), logger: .quiet)
        let reads = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(WebhookChannelHandler(ingest: ingest, idleTimeout: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        channel.read()
        #expect(reads.count == 1)

        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.read()
        #expect(reads.count == 1, "no read while answers cannot be written")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(reads.count == 2, "the read that waited goes on once they can")
        _ = try channel.finish()
        await daemon.close()
    }

    /// Bodies being read share one budget across connections: one past it is answered 503
    /// and closed, and a connection that closes mid-body gives its share back.
    @Test func bodiesBeingReadShareOneBudget() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let budget = BodyBudget(limit: 1000, orgShare: 1000)
        let ingest = WebhookIngest(gateway: daemon.gateway, metrics: GatewayMetrics(), logger: .quiet, bodyBudget: budget)
        func connection() throws -> EmbeddedChannel {
            try Self.embeddedPost(ingest, uri: "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)")
        }
        let first = try connection()
        #expect(budget.inUse == 800)
        let second = try connection()
        #expect(budget.inUse == 800, "the second body did not fit")
        let answer = try second.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } ?? ""
        #expect(answer.hasPrefix("HTTP/1.1 503") && answer.contains(#""code":"busy""#), "\(answer)")
        #expect(!second.isActive)
        _ = try first.close().wait()
        #expect(budget.inUse == 0, "a connection closed mid-body gives its share back")
        let third = try connection()
        #expect(budget.inUse == 800)
        try third.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(await eventually { budget.inUse == 0 }, "a body read whole gives its share back once answered")
        _ = try? second.finish()
        _ = try? third.close().wait()
        await daemon.close()
    }

    /// Past half the budget, an org past its share (an eighth) takes no more: an `auth:
    /// none` channel (or a Meta or Twilio one, given any well-formed signature header)
    /// keeps bodies from anyone, and those must not leave other orgs' webhooks answered
    /// 503. Below half, one org may use more than its share.
    @Test func oneOrgsBodiesCannotTakeTheWholeBudget() async throws {
        let config = try TestDaemon.config(
            in: directory,
            extra: """
                  other:
                    channels: { open: { provider: gupshup, auth: { type: none } } }
                """,
            maxBodyBytes: 1024)
        let daemon = try await Daemon.open(config: config, logger: .quiet)
        let budget = BodyBudget(limit: 8000, orgShare: 1000)
        // The share is never below two bodies of max_body_bytes, which must always fit.
        let big = BodyBudget(limit: 16000, orgShare: 10)
        #expect(big.take(8000, org: "y", bodyLimit: 2000), "up to half, whatever the share")
        #expect(big.take(2000, org: "x", bodyLimit: 2000) && big.take(2000, org: "x", bodyLimit: 2000))
        #expect(!big.take(1, org: "x", bodyLimit: 2000) && !big.take(1, org: "y", bodyLimit: 2000))
        let ingest = WebhookIngest(gateway: daemon.gateway, metrics: GatewayMetrics(), logger: .quiet, bodyBudget: budget)
        // Five bodies of 800 bytes from demo: the fifth takes the total to half (4000), and
        // demo is past its share (1000, and two bodies of 1024 bytes).
        var demo = try (0..<4).map { _ in try Self.embeddedPost(ingest, uri: "/v1/webhooks/demo/open") }
        #expect(try demo.allSatisfy { try $0.readOutbound(as: ByteBuffer.self) == nil }, "below half, an org may pass its share")
        #expect(budget.inUse(org: "demo") == 3200)
        demo.append(try Self.embeddedPost(ingest, uri: "/v1/webhooks/demo/open"))
        #expect(budget.inUse(org: "demo") == 4000)
        let sixth = try Self.embeddedPost(ingest, uri: "/v1/webhooks/demo/open")
        let refused = try sixth.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } ?? ""
        #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains(#""code":"busy""#), "\(refused)")
        #expect(budget.inUse(org: "demo") == 4000)
        // Another org still gets its share.
        let other = try Self.embeddedPost(ingest, uri: "/v1/webhooks/other/open")
        #expect(try other.readOutbound(as: ByteBuffer.self) == nil, "another org's body is still being read")
        #expect(budget.inUse(org: "other") == 800)
        #expect(budget.inUse == 4800)
        for channel in demo + [other] { _ = try channel.close().wait() }
        #expect(budget.inUse == 0 && budget.inUse(org: "demo") == 0 && budget.inUse(org: "other") == 0)
        _ = try? sixth.finish()
        await daemon.close()
    }

    /// A body whose head is refused already (credentials that need no body, the content
    /// type, an unknown channel) is read and dropped: a client without credentials never
    /// takes any of the budget.
    @Test func bodiesRefusedByTheirHeadAreNeverKept() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let budget = BodyBudget(limit: 1000, orgShare: 1000)
        let ingest = WebhookIngest(gateway: daemon.gateway, metrics: GatewayMetrics(), logger: .quiet, bodyBudget: budget)
        func post(_ uri: String, contentType: String = "application/json") throws -> String {
            let channel = try Self.embeddedPost(ingest, uri: uri, contentType: contentType)
            #expect(budget.inUse == 0, "\(uri), \(contentType): the body is not kept")
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
            defer { _ = try? channel.finish() }
            return try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } ?? ""
        }
        #expect(try post("/v1/webhooks/demo/gupshup?token=wrong").hasPrefix("HTTP/1.1 401"))
        #expect(try post("/v1/webhooks/demo/gupshup").hasPrefix("HTTP/1.1 401"))
        #expect(try post("/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", contentType: "text/html").hasPrefix("HTTP/1.1 415"))
        #expect(try post("/v1/webhooks/demo/nowhere?token=\(TestDaemon.token)").hasPrefix("HTTP/1.1 404"))
        // The right token: the body is kept.
        let channel = try Self.embeddedPost(ingest, uri: "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)")
        #expect(budget.inUse == 800)
        _ = try? channel.close().wait()
        #expect(budget.inUse == 0)
        await daemon.close()
    }

    /// A webhook POST to the demo org's Gupshup channel, its body read as a transport reads it.
    static func call(_ ingest: WebhookIngest, config: Config, body bytes: [UInt8]) -> WebhookIngest.Call {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)")
        head.headers.add(name: "Content-Type", value: "application/json")
        var call = WebhookIngest.Call(org: "demo", channel: "gupshup", head: head)
        var body = ingest.body(for: &call, config: config)
        var chunk = ByteBuffer(bytes: bytes)
        _ = body.add(&chunk)
        call.overBudget = body.overBudget
        body.finish(into: &call)
        return call
    }

    /// A body keeps its share of the budget until its webhook is answered: while the disk
    /// holds the journal's fsync back, the bodies waiting for it are memory too, and new
    /// ones are refused (503, retried) once the budget is spent instead of piling up.
    @Test func aBodyWaitingForTheJournalKeepsItsShareOfTheBudget() async throws {
        let held = try HeldSyncJournal(path: directory.path + "/held.sqlite", holding: false)
        let journal = held.journal
        let config = try TestDaemon.config(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let budget = BodyBudget(limit: sent.count + 10, orgShare: sent.count + 10)
        let ingest = WebhookIngest(gateway: Gateway(config: config, journal: journal), metrics: GatewayMetrics(), logger: .quiet, bodyBudget: budget)
        func call() -> WebhookIngest.Call { Self.call(ingest, config: config, body: sent) }
        held.hold()
        let answer = Mutex<Int?>(nil)
        ingest.receive(call(), config: config) { response in answer.withLock { $0 = response.status } }
        #expect(await eventually { journal.stats.commits.load(ordering: .relaxed) == 1 })
        #expect(budget.inUse == sent.count, "held while the fsync is")
        // A second body does not fit while the first waits: refused, to be retried.
        let second = Mutex<Int?>(nil)
        ingest.receive(call(), config: config) { response in second.withLock { $0 = response.status } }
        #expect(second.withLock { $0 } == 503)
        held.release()
        #expect(await eventually { answer.withLock { $0 } == 200 })
        #expect(budget.inUse == 0, "given back with the answer")
        try await journal.close()
    }

    /// A journal that does not answer within the idle timeout (a disk that hangs its
    /// fsync) gets the webhook answered 503 and its connection closed, instead of holding
    /// the connection for as long as the disk hangs. The commit lands later: the event is
    /// kept, and the late answer is dropped.
    @Test func aWebhookTheJournalDoesNotAnswerInTimeIsAnswered503() async throws {
        let held = try HeldSyncJournal(path: directory.path + "/held.sqlite", holding: true)
        let journal = held.journal
        let config = try TestDaemon.config(in: directory)
        let metrics = GatewayMetrics()
        let ingest = WebhookIngest(gateway: Gateway(config: config, journal: journal), metrics: metrics, logger: .quiet)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
                    try channel.pipeline.syncOperations.addHandler(WebhookChannelHandler(ingest: ingest, idleTimeout: .seconds(3)))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let started = ContinuousClock.now
        let answer = try await Self.exchange(port: port, Self.post("/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", sent), responses: 2)
        #expect(answer.statuses == [503] && answer.closed)
        #expect(ContinuousClock.now - started < .seconds(20), "answered at the timeout, not when the disk came back")
        held.release()
        // Kept durably (entries are read only once fsynced); counted once, as the 503 it was.
        #expect(await eventually { (try? await journal.entries(org: "demo", after: 0, limit: 10).count) == 1 })
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains(#"tickwire_http_requests_total{org="demo",channel="gupshup",code="503"} 1"#), "\(exposition)")
        #expect(!exposition.contains(#"code="200""#))
        try await server.close()
        try await journal.close()
    }

    /// Giving up on the journal (both transports do past the idle timeout) answers 503 once;
    /// the journal's own answer, when it comes, is dropped, and only then is the body's
    /// share of the budget given back (the journal held the body until then).
    @Test func givingUpOnTheJournalAnswersOnce() async throws {
        let held = try HeldSyncJournal(path: directory.path + "/held.sqlite", holding: true)
        let journal = held.journal
        let config = try TestDaemon.config(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let budget = BodyBudget()
        let ingest = WebhookIngest(gateway: Gateway(config: config, journal: journal), metrics: GatewayMetrics(), logger: .quiet, bodyBudget: budget)
        let call = Self.call(ingest, config: config, body: sent)
        let answers = Mutex<[Int]>([])
        let giveUp = ingest.receive(call, config: config) { response in answers.withLock { $0.append(response.status) } }
        #expect(await eventually { journal.stats.commits.load(ordering: .relaxed) == 1 })
        giveUp()
        giveUp()
        #expect(answers.withLock { $0 } == [503])
        #expect(budget.inUse == sent.count, "still held by the journal")
        held.release()
        #expect(await eventually { budget.inUse == 0 })
        #expect(answers.withLock { $0 } == [503], "the journal's late answer is dropped")
        try await journal.close()
    }

    /// `Expect: 100-continue` (the default of .NET's HTTP clients) is answered `100
    /// Continue` as soon as the head is accepted: the client sends its body then, instead
    /// of after a timeout of its own.
    @Test func expect100ContinueIsAnswered() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            let (interim, final) = try await channel.executeThenClose { inbound, outbound in
                let head = Self.post("/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", sent)
                    .replacingOccurrences(of: "Host: test\r\n", with: "Host: test\r\nExpect: 100-continue\r\n")
                    .dropLast(sent.count)
                try await outbound.write(ByteBuffer(string: String(head)))
                var chunks = inbound.makeAsyncIterator()
                var received = ""
                while !received.hasSuffix("\r\n\r\n"), let chunk = try await chunks.next() { received += String(buffer: chunk) }
                let interim = received
                try await outbound.write(ByteBuffer(bytes: sent))
                received = ""
                while !received.hasSuffix("}"), let chunk = try await chunks.next() { received += String(buffer: chunk) }
                return (interim, received)
            }
            #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n")
            #expect(Self.statusLines(final) == [200])
            // A declared length over the limit is not invited: answered 413 once sent.
            let tooLong = "POST /v1/webhooks/demo/gupshup?token=\(TestDaemon.token) HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                + "Expect: 100-continue\r\nContent-Length: \(daemon.gateway.config.server.maxBodyBytes + 1)\r\n\r\n"
                + String(repeating: " ", count: daemon.gateway.config.server.maxBodyBytes + 1)
            let refused = try await Self.exchange(port: port, tooLong, responses: 1)
            #expect(refused.statuses == [413])
        }
        #expect(try await daemon.journal.count() == 1)
        await daemon.close()
    }

    /// Counts the reads that reach the socket.
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = Any
        var count = 0

        func read(context: ChannelHandlerContext) {
            count += 1
            context.read()
        }
    }

    @Test func connectionCloseAndOversizedBodies() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let closing = try await Self.exchange(port: port, Self.post(path, sent, connection: "close") + Self.healthz, responses: 2)
            #expect(closing.statuses == [200], "nothing is answered after Connection: close")
            #expect(closing.closed)
            // HTTP/1.0 closes after the answer unless the client asks to keep the connection.
            let http10 = Self.post(path, sent).replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.0\r\n")
            let oldClient = try await Self.exchange(port: port, http10 + Self.healthz, responses: 2)
            #expect(oldClient.statuses == [200] && oldClient.closed)
            let keepAlive = try await Self.exchange(port: port, Self.post(path, sent, connection: "keep-alive")
                .replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.0\r\n") + Self.healthz, responses: 2)
            #expect(keepAlive.statuses == [200, 200] && !keepAlive.closed)

            let limit = daemon.gateway.config.server.maxBodyBytes
            let large = [UInt8](repeating: UInt8(ascii: " "), count: limit + 1)
            let refused = try await Self.exchange(port: port, Self.post(path, large) + Self.healthz, responses: 2)
            #expect(refused.statuses == [413, 200], "the connection goes on after a refused body")
        }
        #expect(try await daemon.journal.count() == 1)
        await daemon.close()
    }

    /// A request the router answers with `Connection: close` is the connection's last: a
    /// request pipelined behind it is neither answered nor run (a webhook behind it is not
    /// journaled), and the connection closes at once instead of staying open for ever.
    @Test func nothingAfterAForwardedConnectionCloseIsRead() async throws {
        let daemon = try await TestDaemon.open(in: directory, idleTimeout: "20s")
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        let closingHealth = "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let started = ContinuousClock.now
            let behindClose = try await Self.exchange(port: port, closingHealth + Self.healthz, responses: 2)
            #expect(behindClose.statuses == [200] && behindClose.closed)
            let webhookBehindClose = try await Self.exchange(port: port, closingHealth + Self.post(path, sent), responses: 2)
            #expect(webhookBehindClose.statuses == [200] && webhookBehindClose.closed)
            #expect(ContinuousClock.now - started < .seconds(10), "closed at once, not at the idle timeout")
        }
        #expect(try await daemon.journal.count() == 0, "the webhook after Connection: close was not run")
        await daemon.close()
    }

    /// A webhook the router takes (pipelined behind another request) whose body it stops
    /// reading (past the body budget here; or far past max_body_bytes) is answered, and the
    /// connection ends with the answer: Hummingbird would read on and keep it open until the
    /// idle timeout.
    @Test func aBodyTheRouterStopsReadingEndsTheConnection() async throws {
        let daemon = try await TestDaemon.open(in: directory, idleTimeout: "30s")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        let body = String(repeating: " ", count: 5000)
        let head = "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        try await daemon.application(bodyBudget: BodyBudget(limit: 1000, orgShare: 1000)).test(.live) { client in
            let port = try #require(client.port)
            let started = ContinuousClock.now
            // Waits for a third answer, which never comes: until the connection closes.
            let answered = try await Self.exchange(port: port, Self.healthz + head + body, responses: 3)
            #expect(answered.statuses == [200, 503])
            #expect(answered.closed)
            #expect(ContinuousClock.now - started < .seconds(20), "closed with the answer, not at the idle timeout")
        }
        await daemon.close()
    }

    /// NIO's decoder parses nothing after an upgrade (or CONNECT) request: such a request is
    /// answered with `connection: close` and the connection closes, rather than leaving the
    /// client's next request unanswered until the idle timeout.
    @Test func anUpgradeRequestIsTheConnectionsLast() async throws {
        let daemon = try await TestDaemon.open(in: directory, idleTimeout: "20s")
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        let upgrade = "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let started = ContinuousClock.now
            let health = try await Self.exchange(port: port, upgrade + Self.healthz, responses: 2)
            #expect(health.statuses == [200] && health.closed)
            let webhook = Self.post(path, sent).replacingOccurrences(of: "Host: test\r\n", with: "Host: test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n")
            let upgradedWebhook = try await Self.exchange(port: port, webhook + Self.healthz, responses: 2)
            #expect(upgradedWebhook.statuses == [200] && upgradedWebhook.closed)
            #expect(ContinuousClock.now - started < .seconds(10), "closed at once, not at the idle timeout")
        }
        #expect(try await daemon.journal.count() == 1)
        await daemon.close()
    }

    /// A client that shuts its sending side once its request is out still gets the answer:
    /// the router's side, which never saw the webhook, closed the connection before the
    /// journal's answer could be written.
    @Test func aHalfClosedClientStillGetsItsAnswer() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let sent = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        let read = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_read.json")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let one = try await Self.exchange(port: port, Self.post(path, sent), responses: 2, halfClose: true)
            #expect(one.statuses == [200] && one.closed)
            let pipelined = try await Self.exchange(port: port, Self.post(path, read) + Self.healthz, responses: 3, halfClose: true)
            #expect(pipelined.statuses == [200, 200] && pipelined.closed)
        }
        #expect(try await daemon.journal.count() == 2)
        await daemon.close()
    }

    /// A body so large that the handler stops reading it is refused like any other (404 for
    /// an unknown channel, 413 counted in the metrics) and the connection is closed.
    @Test func aBodyTooLargeToReadIsRefusedAndCounted() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let limit = daemon.gateway.config.server.maxBodyBytes
        // One byte past what is read and thrown away; the declared length is longer still,
        // so the server stops before the end. Nothing more is sent: the server has read all
        // of it when it closes, and the answer is not lost to a reset.
        let sent = limit + WebhookIngest.Body.maxDiscardBytes + 1
        // Returns the status lines read until the server closed the connection.
        @Sendable func send(_ path: String, port: Int) async throws -> [Int] {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string:
                    "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(sent + 1000)\r\n\r\n"))
                let chunk = ByteBuffer(repeating: UInt8(ascii: " "), count: 1 << 20)
                var left = sent
                while left > 0 {
                    try await outbound.write(chunk.getSlice(at: 0, length: min(left, chunk.readableBytes))!)
                    left -= min(left, chunk.readableBytes)
                }
                var received = ""
                for try await part in inbound { received += String(buffer: part) }
                return Self.statusLines(received)
            }
        }
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            #expect(try await send("/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", port: port) == [413])
            #expect(try await send("/v1/webhooks/demo/nothing", port: port) == [404])
        }
        let metrics = String(decoding: daemon.metrics.exposition(), as: UTF8.self)
        #expect(metrics.contains(#"tickwire_http_requests_total{org="demo",channel="gupshup",code="413"} 1"#), "\(metrics)")
        #expect(try await daemon.journal.count() == 0)
        await daemon.close()
    }

    /// The idle timeout is this handler's (Hummingbird's state handler never sees webhooks):
    /// a silent connection and a stalled body are closed, one that keeps sending is not.
    @Test func idleConnectionsCloseBusyOnesStayOpen() async throws {
        let daemon = try await TestDaemon.open(in: directory, idleTimeout: "1s")
        let template = try String(decoding: RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json"), as: UTF8.self)
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let started = ContinuousClock.now
            let silent = try await Self.exchange(port: port, "", responses: 1)
            #expect(silent.closed && silent.statuses.isEmpty)
            #expect(ContinuousClock.now - started >= .milliseconds(900), "not closed before the timeout")
            let stalled = try await Self.exchange(port: port, "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n{", responses: 1)
            #expect(stalled.closed && stalled.statuses.isEmpty, "a body that stops arriving is closed without an answer")

            // A webhook every 250 ms for three timeouts, on one connection (margins for a loaded machine).
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            let answered = try await channel.executeThenClose { inbound, outbound in
                var chunks = inbound.makeAsyncIterator()
                var answered = 0
                for i in 0..<12 {
                    let body = template.replacingOccurrences(of: "\"id\": \"", with: "\"id\": \"idle-\(i)-")
                        .replacingOccurrences(of: "\"gsId\": \"", with: "\"gsId\": \"idle-\(i)-")
                    try await outbound.write(ByteBuffer(string: Self.post(path, Array(body.utf8))))
                    var received = ""
                    while Self.statusLines(received).isEmpty || !received.hasSuffix("}") {
                        guard let chunk = try await chunks.next() else { return answered }
                        received += String(buffer: chunk)
                    }
                    if Self.statusLines(received) == [200] { answered += 1 }
                    try await Task.sleep(for: .milliseconds(250))
                }
                return answered
            }
            #expect(answered == 12)
        }
        #expect(try await daemon.journal.count() == 12)
        await daemon.close()
    }

    /// A request must arrive whole within the idle timeout: a body trickled a byte at a
    /// time never leaves the connection idle, and would hold it (and its share of the body
    /// budget) for as long as the client likes.
    @Test func aBodyTrickledTooSlowlyIsClosed() async throws {
        let daemon = try await TestDaemon.open(in: directory, idleTimeout: "1s")
        let path = "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)"
        try await daemon.application().test(.live) { client in
            let port = try #require(client.port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            let started = ContinuousClock.now
            let closedAfter = try await channel.executeThenClose { inbound, outbound -> Duration? in
                try await outbound.write(ByteBuffer(string: "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n{"))
                // A byte every 200 ms (five per idle timeout) for up to 6 s.
                let closed = Mutex<Duration?>(nil)
                let reader = Task {
                    do { for try await _ in inbound {} } catch {}
                    closed.withLock { $0 = ContinuousClock.now - started }
                }
                defer { reader.cancel() }
                for _ in 0..<30 where closed.withLock({ $0 }) == nil {
                    try await Task.sleep(for: .milliseconds(200))
                    do { try await outbound.write(ByteBuffer(string: " ")) } catch { break }
                }
                try await Task.sleep(for: .milliseconds(200))
                return closed.withLock { $0 }
            }
            let after = try #require(closedAfter, "still open after 6 s of trickling")
            #expect(after < .seconds(3), "closed after \(after)")
        }
        #expect(try await daemon.journal.count() == 0)
        await daemon.close()
    }

    /// Graceful shutdown: an idle connection closes at once; one with a webhook in hand
    /// closes only after its answer, which says `Connection: close`.
    @Test func gracefulShutdownAnswersTheWebhookInHand() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let ingest = WebhookIngest(gateway: daemon.gateway, metrics: GatewayMetrics(), logger: Logger(label: "test"))
        func connection() async throws -> NIOAsyncTestingChannel {
            let channel = NIOAsyncTestingChannel()
            try await channel.testingEventLoop.executeInContext {
                try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
                try channel.pipeline.syncOperations.addHandler(WebhookChannelHandler(ingest: ingest, idleTimeout: nil))
            }
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80))
            return channel
        }
        let idle = try await connection()
        idle.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try await idle.closeFuture.get()

        let busy = try await connection()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)")
        head.headers.add(name: "Content-Type", value: "application/json")
        try await busy.writeInbound(HTTPServerRequestPart.head(head))
        // The shutdown comes while the body is still arriving.
        busy.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try await busy.writeInbound(HTTPServerRequestPart.body(ByteBuffer(bytes: RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json"))))
        #expect(busy.isActive, "still open while the webhook is in hand")
        try await busy.writeInbound(HTTPServerRequestPart.end(nil))
        // The answer's bytes, read back as a client would.
        let client = EmbeddedChannel()
        try client.pipeline.syncOperations.addHTTPClientHandlers()
        try client.writeOutbound(HTTPClientRequestPart.head(head))
        try client.writeInbound(try await busy.waitForOutboundWrite(as: ByteBuffer.self))
        let response = try #require(try client.readInbound(as: HTTPClientResponsePart.self))
        guard case .head(let answer) = response else {
            Issue.record("expected the answer's head, got \(response)")
            return
        }
        #expect(answer.status == .ok)
        #expect(answer.headers["connection"] == ["close"])
        try await busy.closeFuture.get()
        #expect(try await daemon.journal.count() == 1)
        await daemon.close()
    }

    /// A connection that closes while its webhook is being committed (the client gave up, or
    /// shutdown closed it): the event is stored, and its answer, with nobody to take it, is
    /// dropped. Writing it crashed the daemon on SIGTERM under load.
    @Test func anAnswerForAClosedConnectionIsDropped() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let ingest = WebhookIngest(gateway: daemon.gateway, metrics: GatewayMetrics(), logger: Logger(label: "test"))
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
            try channel.pipeline.syncOperations.addHandler(WebhookChannelHandler(ingest: ingest, idleTimeout: nil))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80))
        // Holding the journal's write lock keeps the commit waiting until the connection is gone.
        var unsafe = Configuration()
        unsafe.allowsUnsafeTransactions = true
        let blocker = try DatabaseQueue(path: directory.path + "/data/journal.sqlite", configuration: unsafe)
        try await blocker.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)")
        head.headers.add(name: "Content-Type", value: "application/json")
        try await channel.writeInbound(HTTPServerRequestPart.head(head))
        try await channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(bytes: RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json"))))
        try await channel.writeInbound(HTTPServerRequestPart.end(nil))
        try await channel.close()
        try await blocker.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
        try blocker.close()
        let deadline = ContinuousClock.now + .seconds(10)
        while try await daemon.journal.count() < 1, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await daemon.journal.count() == 1)
        // The answer reaches the connection's loop just after the commit: run the loop's tasks
        // for a while (writing the answer trapped here).
        for _ in 0..<20 {
            await channel.testingEventLoop.run()
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(!channel.isActive)
        await daemon.close()
    }

    /// Answers bypass NIO's response encoder: their bytes must be the encoder's own for the
    /// same head and body, for success, refusals, plugin content types and `Connection: close`.
    @Test(arguments: [
        (WebhookResponse.json(["accepted": 1, "ids": ["x"]]), false),
        (WebhookRejection.unauthorized().response, true),
        (WebhookResponse(status: 200, contentType: "text/xml; charset=utf-8", body: Array("<Response/>".utf8)), false),
        (WebhookResponse(status: 503, contentType: "application/json", body: []), true),
        (WebhookResponse(status: 299, contentType: "text/plain", body: Array("odd".utf8)), false),
    ])
    func answersAreTheEncodersBytes(response: WebhookResponse, closing: Bool) throws {
        let channel = EmbeddedChannel(handler: HTTPResponseEncoder())
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.count))
        if closing { headers.add(name: "connection", value: "close") }
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status), headers: headers)))
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body))))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        var expected = ByteBuffer()
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(var buffer) = part else { Issue.record("a file region"); return }
            expected.writeBuffer(&buffer)
        }
        #expect(try channel.finish().isClean)
        let encoded = WebhookChannelHandler.encoded(response, closing: closing, allocator: ByteBufferAllocator())
        #expect(String(buffer: encoded) == String(buffer: expected))
    }

    @Test func webhookPaths() {
        #expect(WebhookChannelHandler.webhookPath("/v1/webhooks/acme/meta?x=1")! == ("acme", "meta"))
        #expect(WebhookChannelHandler.webhookPath("/v1/webhooks/acme/meta")! == ("acme", "meta"))
        #expect(WebhookChannelHandler.webhookPath("/v1/webhooks/acme") == nil)
        #expect(WebhookChannelHandler.webhookPath("/v1/webhooks/acme/meta/extra") == nil)
        #expect(WebhookChannelHandler.webhookPath("/v1/webhooks//meta") == nil)
        #expect(WebhookChannelHandler.webhookPath("/v1/orgs/acme/messages") == nil)
    }
}
