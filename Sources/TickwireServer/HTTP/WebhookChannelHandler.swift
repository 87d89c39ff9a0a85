import Hummingbird
import NIOCore
import NIOHTTPTypes
import TickwireCore

/// Answers webhook POSTs on the connection's event loop, without a task per request.
///
/// Hummingbird hands every request to a task on Swift's concurrency pool and back to the
/// event loop for the answer; for the hot path those thread handoffs cost more than the work
/// itself on a 2-core machine (bench/RESULTS.md). This handler sits after Hummingbird's HTTP
/// decoding and connection-state handler: a POST to `/v1/webhooks/{org}/{channel}` is read
/// here, run through `WebhookIngest` on the loop, and answered from the journal's commit
/// callback. Everything else (org API, health, metrics, handshakes) passes on to the router.
///
/// Answers go out in request order: a webhook that arrives while a request handed to the
/// router is unanswered goes to the router too (its route runs the same `WebhookIngest`),
/// and parts that arrive while a webhook waits for the journal are held, with reading paused,
/// until its answer is written.
final class WebhookChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// A request handed to the router: its parts follow it.
        case forwarding
        /// Reading a webhook's body (into `body`, kept outside the enum so that appending to
        /// it never copies it).
        case collecting(WebhookIngest.Call, config: Config)
        /// Waiting for the journal; nothing else is answered meanwhile.
        case answering(closeAfter: Bool)
        /// `Connection: close` was answered or the body was far too large; the rest is ignored.
        case closing
    }

    private let ingest: WebhookIngest
    private var state = State.idle
    private var body = WebhookIngest.Body(limit: 0)
    /// Requests handed to the router whose answer has not been written yet.
    private var routerAnswersPending = 0
    private var held: [HTTPRequestPart] = []
    /// A decoding error behind the webhook being answered (the router answers it with a
    /// 400 and closes): it must not overtake that answer.
    private var heldError: (any Error)?
    private var readPending = false

    init(ingest: WebhookIngest) {
        self.ingest = ingest
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .answering = state {
            held.append(part)
        } else {
            handle(part, context: context)
        }
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerAnswersPending == 0, head.method == .post, let (org, channel) = Self.webhookPath(head.path) {
                let config = ingest.gateway.config
                body = WebhookIngest.Body(limit: config.server.maxBodyBytes)
                state = .collecting(WebhookIngest.Call(org: org, channel: channel, head: head), config: config)
            } else {
                routerAnswersPending += 1
                state = .forwarding
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.forwarding, .end):
            state = .idle
            context.fireChannelRead(wrapInboundOut(part))
        case (.forwarding, _):
            context.fireChannelRead(wrapInboundOut(part))
        case (.collecting, .body(var chunk)):
            if !body.add(&chunk) {
                state = .answering(closeAfter: true)
                write(WebhookIngest.tooLarge(body.limit).response, closing: true, context: context)
            }
        case (.collecting(var call, let config), .end):
            call.body = body.bytes
            body = WebhookIngest.Body(limit: 0)
            let closeAfter = call.head.headerFields.asksToClose
            state = .answering(closeAfter: closeAfter)
            let loop = context.eventLoop
            let handler = NIOLoopBound(self, eventLoop: loop)
            let context = NIOLoopBound(context, eventLoop: loop)
            ingest.receive(call, config: config) { response in
                if loop.inEventLoop {
                    handler.value.write(response, closing: closeAfter, context: context.value)
                } else {
                    loop.execute { handler.value.write(response, closing: closeAfter, context: context.value) }
                }
            }
        case (.closing, _):
            break
        default:
            // A part out of order (the decoder guarantees head, body*, end): let the router's
            // error handling answer it.
            state = .forwarding
            routerAnswersPending += 1
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// Writes a webhook's answer, then goes on with what arrived meanwhile.
    private func write(_ response: WebhookResponse, closing: Bool, context: ChannelHandlerContext) {
        var fields: HTTPFields = [.contentType: response.contentType, .contentLength: String(response.body.count)]
        if closing { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .init(code: response.status), headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: response.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if closing {
            state = .closing
            held.removeAll()
            context.close(promise: nil)
            return
        }
        state = .idle
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
        if readPending {
            readPending = false
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .answering(closeAfter: true), .closing:
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
    func read(context: ChannelHandlerContext) {
        if case .answering = state, !held.isEmpty || heldError != nil {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), routerAnswersPending > 0 {
            routerAnswersPending -= 1
        }
        context.write(data, promise: promise)
    }

    /// `/v1/webhooks/{org}/{channel}`, query aside → (org, channel); nil for any other path.
    static func webhookPath(_ path: String?) -> (String, String)? {
        guard var path = path?.utf8[...] else { return nil }
        if let query = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        let prefix = "/v1/webhooks/".utf8
        guard path.starts(with: prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        let parts = rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
    }
}
