import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 channel with `WebhookChannelHandler` between NIO's HTTP decoder
/// and Hummingbird's HTTP-types codec: webhooks are answered there, on NIO's own types,
/// and everything else goes on to the router. The setup is otherwise `HTTP1Channel`'s
/// (Hummingbird's extension point, `additionalChannelHandlers`, places handlers after the
/// codec).
struct TickwireHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let idleTimeout: TimeAmount?
    let ingest: WebhookIngest

    static func server(idleTimeout: TimeAmount?, ingest: WebhookIngest) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            TickwireHTTPChannel(responder: responder, idleTimeout: idleTimeout, ingest: ingest)
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            // configureHTTPServerPipeline's decoder hands each request's method to its encoder,
            // which takes one back per answer head it encodes (to leave HEAD answers without a
            // body). Webhook answers are written below the encoder, so that queue grew by one
            // per webhook for the connection's life, and a HEAD answered later took a POST's
            // place. The two are added unpaired; the router leaves HEAD answers without a body.
            try pipeline.addHandler(HTTPResponseEncoder(configuration: .init()))
            // Bounded: after an upgrade or CONNECT request the decoder parses nothing more, and
            // whatever the client sends would pile up in the handler's buffer.
            try pipeline.addHandler(ByteToMessageHandler(
                HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: Self.decoderLimits),
                maximumBufferSize: Self.undecodedBytesLimit))
            try pipeline.addHandler(WebhookChannelHandler(ingest: ingest, idleTimeout: idleTimeout))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            // The idle timeout is WebhookChannelHandler's: this handler never sees webhooks.
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    /// Bytes the decoder may hold unparsed: a head is at most ~80 KiB of fields plus its URL.
    static let undecodedBytesLimit = 1 << 20

    /// Hummingbird's limits: NIO's own allow 65 534 header fields, which anyone could make
    /// every webhook's header dictionary loop over, on the event loop.
    static let decoderLimits = {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldCount = 1000
        return limits
    }()

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
