import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 channel with `WebhookChannelHandler` after its connection-state
/// handler, so that idle timeouts, graceful shutdown and `Connection: close` count the
/// webhooks answered on the loop like any other request. The setup is `HTTP1Channel`'s;
/// Hummingbird's extension point (`additionalChannelHandlers`) puts handlers before that
/// state handler, where answers written would bypass it.
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
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: .init())
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout.map { .init($0) }, logger: logger))
            try pipeline.addHandler(WebhookChannelHandler(ingest: ingest))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
