import NIOCore
import NIOHTTP1
import TickwireCore

/// Answers webhook POSTs on the connection's event loop, straight from NIO's HTTP/1 parts.
///
/// Hummingbird hands every request to a task on Swift's concurrency pool and back to the
/// event loop for the answer, and converts each head to and from HTTP-types on the way; for
/// the hot path those handoffs and conversions cost more than the work itself on a 2-core
/// machine (bench/RESULTS.md). This handler sits right after NIO's HTTP decoder: a POST to
/// `/v1/webhooks/{org}/{channel}` is read here, run through `WebhookIngest` on the loop, and
/// answered from the journal's commit callback. Everything else (org API, health, metrics,
/// handshakes) passes on to Hummingbird's codec and router.
///
/// Answers go out in request order: a webhook that arrives while a request handed to the
/// router is unanswered goes to the router too (its route runs the same `WebhookIngest`),
/// and parts that arrive while a webhook waits for the journal are held, with reading paused,
/// until its answer is written.
///
/// Since Hummingbird's connection-state handler never sees the webhooks, this handler keeps
/// the connection's lifecycle for both kinds of request: the idle timeout (no bytes for that
/// long while nothing is being answered closes the connection) and graceful shutdown (a
/// connection closes once the request in hand is answered).
final class WebhookChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// A request handed to the router: its parts follow it.
        case forwarding
        /// Reading a webhook's body (into `body`, kept outside the enum so that appending to
        /// it never copies it).
        case collecting(WebhookIngest.Call, config: Config, closeAfter: Bool)
        /// Waiting for the journal since `since`; nothing else is answered meanwhile.
        /// `giveUp` answers 503 instead (`WebhookIngest.receive`), past the idle timeout.
        case answering(closeAfter: Bool, since: NIODeadline, giveUp: (@Sendable () -> Void)?)
        /// `Connection: close` was answered or the body was far too large; the rest is ignored.
        case closing
    }

    private let ingest: WebhookIngest
    private let idleTimeout: TimeAmount?
    private var state = State.idle
    private var body = WebhookIngest.Body(limit: 0)
    /// Requests handed to the router whose answer has not been written yet.
    private var routerAnswersPending = 0
    /// The router's answer being written says `Connection: close`.
    private var routerAnswerCloses = false
    private var held: [HTTPServerRequestPart] = []
    /// A decoding error behind the webhook being answered (the router answers it with a
    /// 400 and closes): it must not overtake that answer.
    private var heldError: (any Error)?
    private var readPending = false
    /// The client closed its side while a webhook waited for its answer: passed on (or the
    /// connection closed) once it is written, or Hummingbird closed the connection first.
    private var inputClosedPending = false
    /// `write` is going through `held`.
    private var draining = false
    /// Graceful shutdown asked while a webhook was in hand: close once it is answered.
    private var quiescing = false
    private var lastActivity = NIODeadline.now()
    /// When the head of the request being read arrived: a request must arrive whole within
    /// the idle timeout, or a body trickled a byte at a time would hold its connection (and
    /// its share of the body budget) for ever.
    private var requestStarted: NIODeadline?
    private var idleCheck: Scheduled<Void>?
    /// NIO's response encoder, found when the handler is added: answers are written below it
    /// as finished bytes (`write`).
    private var encoder: ChannelHandlerContext?

    init(ingest: WebhookIngest, idleTimeout: TimeAmount?) {
        self.ingest = ingest
        self.idleTimeout = idleTimeout
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        let part = unwrapInboundIn(data)
        if case .answering = state {
            held.append(part)
        } else {
            handle(part, context: context)
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(var head)):
            requestStarted = .now()
            // NIO's decoder parses nothing after an upgrade or CONNECT request (it expects an
            // upgrader to take the connection over): such a request is the connection's last,
            // or the client's next request would wait for an answer until the idle timeout.
            let upgrades = head.method == .CONNECT || (head.headers.contains(name: "upgrade")
                && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" })
            if upgrades { head.headers.replaceOrAdd(name: "connection", value: "close") }
            if routerAnswersPending == 0, head.method == .POST, let (org, channel) = Self.webhookPath(head.uri) {
                let config = ingest.gateway.config
                body.drop()
                var call = WebhookIngest.Call(org: org, channel: channel, head: head)
                body = ingest.body(for: &call, config: config)
                state = .collecting(call, config: config, closeAfter: !head.isKeepAlive)
                // A client that asks first (`Expect: 100-continue`, .NET's default) would
                // otherwise wait a timeout of its own before sending a body this handler
                // wants. One whose head is refused already, or whose declared length is over
                // the limit, is answered once its body came (HTTP/1.0 has no 100).
                if body.keeping, head.version == .http1_1, head.headers.contains(name: "expect"),
                    head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }),
                    head.headers.first(name: "content-length").flatMap(Int.init).map({ $0 <= config.server.maxBodyBytes }) ?? true
                {
                    encoder?.writeAndFlush(NIOAny(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
                }
            } else {
                routerAnswersPending += 1
                state = .forwarding
                context.fireChannelRead(wrapInboundOut(.head(head)))
            }
        case (.forwarding, .end):
            state = .idle
            requestStarted = nil
            context.fireChannelRead(wrapInboundOut(part))
        case (.forwarding, _):
            context.fireChannelRead(wrapInboundOut(part))
        case (.collecting(var call, let config, _), .body(var chunk)):
            if !body.add(&chunk) {
                // So much that reading stops: refused (413, 404 for an unknown channel, 503
                // past the budget) like any other, and the connection is closed.
                call.overBudget = body.overBudget
                receive(call, config: config, closeAfter: true, context: context)
            }
        case (.collecting(var call, let config, let closeAfter), .end):
            requestStarted = nil
            body.finish(into: &call)
            receive(call, config: config, closeAfter: closeAfter, context: context)
        case (.closing, _):
            break
        default:
            // A part out of order (the decoder guarantees head, body*, end): let the router's
            // error handling answer it.
            body.drop()
            state = .forwarding
            routerAnswersPending += 1
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    private func receive(_ call: WebhookIngest.Call, config: Config, closeAfter: Bool, context: ChannelHandlerContext) {
        body.drop()
        let since = NIODeadline.now()
        state = .answering(closeAfter: closeAfter, since: since, giveUp: nil)
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let context = NIOLoopBound(context, eventLoop: loop)
        let giveUp = ingest.receive(call, config: config) { response in
            if loop.inEventLoop {
                handler.value.answer(response, context: context.value)
            } else {
                loop.execute { handler.value.answer(response, context: context.value) }
            }
        }
        // Unless it was answered at once (a refusal).
        if case .answering = state { state = .answering(closeAfter: closeAfter, since: since, giveUp: giveUp) }
    }

    private func answer(_ response: WebhookResponse, context: ChannelHandlerContext) {
        guard case .answering(let closeAfter, _, _) = state else { return }
        write(response, closing: closeAfter || quiescing, context: context)
    }

    /// Writes a webhook's answer, then goes on with what arrived meanwhile.
    private func write(_ response: WebhookResponse, closing: Bool, context: ChannelHandlerContext) {
        guard let encoder else {
            // The handler was removed: the connection closed (the client left, or shutdown
            // closed it) while the journal committed. Nobody is left to answer; a provider
            // that saw no 200 retries, and the retry is a no-op.
            state = .closing
            held.removeAll()
            return
        }
        // One buffer, written where the encoder would have put its bytes: head, body and end
        // through the encoder were three trips down the pipeline and a header list built for
        // every answer. Nothing else is being answered on this connection now (answers go out
        // in request order), so the encoder is between responses.
        encoder.writeAndFlush(NIOAny(Self.encoded(response, closing: closing, allocator: context.channel.allocator)), promise: nil)
        lastActivity = .now()
        if closing {
            state = .closing
            held.removeAll()
            context.close(promise: nil)
            return
        }
        state = .idle
        // A held request refused at once is answered from inside the loop below: go back to
        // it rather than nest one loop per answer (thousands of pipelined refusals would
        // otherwise nest as deep, on the event loop's stack).
        if draining { return }
        draining = true
        defer { draining = false }
        if !held.isEmpty {
            defer {
                // Parts handed on here are outside a read cycle: the router's side
                // (NIOAsyncChannel) passes reads on at read-complete only.
                context.fireChannelReadComplete()
            }
            while !held.isEmpty {
                handle(held.removeFirst(), context: context)
                if case .answering = state { return }
            }
        }
        if let error = heldError {
            heldError = nil
            context.fireErrorCaught(error)
        }
        if inputClosedPending {
            inputClosedPending = false
            passOnInputClosed(context: context)
            return
        }
        resumeReading(context: context)
    }

    /// The client will send nothing more: the router's side closes once it has answered
    /// what it was handed; with nothing handed there, the connection closes now.
    private func passOnInputClosed(context: ChannelHandlerContext) {
        var routerHasARequest = routerAnswersPending > 0
        if case .forwarding = state { routerHasARequest = true }
        if routerHasARequest {
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else {
            context.close(promise: nil)
        }
    }

    private func resumeReading(context: ChannelHandlerContext) {
        guard readPending, context.channel.isWritable else { return }
        readPending = false
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is ByteToMessageDecoderError.PayloadTooLargeError {
            // Bytes the decoder will never parse (sent after an upgrade request).
            state = .closing
            context.close(promise: nil)
            return
        }
        switch state {
        case .answering(closeAfter: true, _, _), .closing:
            // The connection closes after this answer anyway (bytes after `Connection: close`).
            return
        case .answering:
            heldError = heldError ?? error
        default:
            context.fireErrorCaught(error)
        }
    }

    /// Holds reads back once parts wait behind a webhook's answer (the client pipelines),
    /// so what is held stays within one read's worth. Reads go on while nothing is held:
    /// pausing on every webhook turned read interest off and on in epoll, two syscalls per
    /// request, for clients that send nothing before their answer anyway.
    ///
    /// Reads also wait while the client does not read its answers (the channel is not
    /// writable): refusals are answered at once, and a client pipelining requests it never
    /// reads the answers to would otherwise grow the write queue without bound.
    func read(context: ChannelHandlerContext) {
        if holdsReads || !context.channel.isWritable {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !holdsReads { resumeReading(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// Parts wait behind a webhook's answer.
    private var holdsReads: Bool {
        if case .answering = state, !held.isEmpty || heldError != nil { return true }
        return false
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard routerAnswersPending > 0 else { return context.write(data, promise: promise) }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            // Hummingbird ends a connection after a request's `Connection: close`, not after
            // an answer's: a route's (a webhook body it stopped reading) is kept here.
            routerAnswerCloses = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            context.write(data, promise: promise)
        case .end:
            routerAnswersPending -= 1
            lastActivity = .now()
            guard routerAnswerCloses else { return context.write(data, promise: promise) }
            state = .closing
            held.removeAll()
            let written = promise ?? context.eventLoop.makePromise()
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            context.write(data, promise: written)
        case .body:
            context.write(data, promise: promise)
        }
    }

    // MARK: Lifecycle

    /// Graceful shutdown: with a webhook in hand, its answer closes the connection; with a
    /// request at the router, Hummingbird's state handler closes after answering it; idle,
    /// the connection closes now.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            // A client that half-closes after its request still gets the answer: passed on
            // at once, Hummingbird (which never saw the webhook) closed the connection before
            // the journal's answer could be written.
            if case .answering = state {
                inputClosedPending = true
            } else {
                passOnInputClosed(context: context)
            }
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        switch state {
        case .collecting, .answering:
            quiescing = true
        case .closing:
            break
        case .idle where routerAnswersPending == 0:
            context.close(promise: nil)
        case .idle, .forwarding:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            preconditionFailure("WebhookChannelHandler needs NIO's HTTPResponseEncoder before it in the pipeline")
        }
        self.encoder = encoder
        if context.channel.isActive { startIdleChecks(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleChecks(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A body cut off by the connection closing gives its share of the budget back (here
        // and when the channel goes inactive, whichever comes first).
        body.drop()
        encoder = nil
        stopIdleChecks()
    }

    func channelInactive(context: ChannelHandlerContext) {
        body.drop()
        stopIdleChecks()
        context.fireChannelInactive()
    }

    private func startIdleChecks(context: ChannelHandlerContext) {
        lastActivity = .now()
        if let idleTimeout { scheduleIdleCheck(context: context, at: lastActivity + idleTimeout) }
    }

    private func stopIdleChecks() {
        idleCheck?.cancel()
        idleCheck = nil
    }

    /// Whether an answer is being prepared for a request that was read whole: the journal
    /// or the router is working, the client is not idle. (A body that stops arriving, or
    /// arrives too slowly, is.)
    private var isAnswering: Bool {
        switch state {
        case .answering: true
        case .idle, .closing: routerAnswersPending > 0
        case .forwarding, .collecting: false
        }
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        guard let idleTimeout, idleCheck == nil else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        idleCheck = context.value.eventLoop.scheduleTask(deadline: deadline) {
            let handler = handler.value
            handler.idleCheck = nil
            // A journal that has not answered within the idle timeout (a disk that hangs
            // its fsync) is answered 503 then and the connection closed: providers retry,
            // and the connection is not held for ever. Its commit may still land; the retry
            // is then a duplicate, answered 200.
            if case .answering(_, let since, let giveUp) = handler.state {
                if since + idleTimeout <= .now() {
                    // Its 503 closes the connection.
                    handler.state = .answering(closeAfter: true, since: since, giveUp: nil)
                    giveUp?()
                } else {
                    handler.scheduleIdleCheck(context: context.value, at: since + idleTimeout)
                }
                return
            }
            let due =
                handler.isAnswering
                ? NIODeadline.now() + idleTimeout
                : min(handler.lastActivity, handler.requestStarted ?? .distantFuture) + idleTimeout
            if due <= .now() {
                context.value.close(promise: nil)
            } else {
                handler.scheduleIdleCheck(context: context.value, at: due)
            }
        }
    }

    /// The answer as NIO's `HTTPResponseEncoder` writes a head with these headers and a body.
    static func encoded(_ response: WebhookResponse, closing: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        let status = HTTPResponseStatus(statusCode: response.status)
        var buffer = allocator.buffer(capacity: 96 + response.contentType.utf8.count + response.body.count)
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\ncontent-type: ")
        buffer.writeString(response.contentType)
        buffer.writeStaticString("\r\ncontent-length: ")
        buffer.writeString(String(response.body.count))
        if closing { buffer.writeStaticString("\r\nconnection: close") }
        buffer.writeStaticString("\r\n\r\n")
        buffer.writeBytes(response.body)
        return buffer
    }

    /// `/v1/webhooks/{org}/{channel}`, query aside → (org, channel); nil for any other path.
    static func webhookPath(_ path: String) -> (String, String)? {
        var path = path.utf8[...]
        if let query = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        let prefix = "/v1/webhooks/".utf8
        guard path.starts(with: prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        let parts = rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
    }
}
