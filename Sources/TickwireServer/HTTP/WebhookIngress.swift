import Hummingbird
import NIOCore
import TickwireCore

/// The webhook URLs as Hummingbird routes. Webhook POSTs are normally answered on the event
/// loop by `WebhookChannelHandler` before they reach the router; this route takes those
/// that cannot be (pipelined behind another request) and the provider handshake GETs.
struct WebhookIngress: Sendable {
    let ingest: WebhookIngest
    /// How long a webhook waits for the journal before it is answered 503.
    var idleTimeout: Duration = .seconds(30)

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/webhooks/:org/:channel") { request, context in
            let config = ingest.gateway.config
            let org = context.parameters.get("org") ?? "", channel = context.parameters.get("channel") ?? ""
            var call = WebhookIngest.Call(org: org, channel: channel, head: request.head, body: nil)
            var collected = ingest.body(for: &call, config: config)
            defer { collected.drop() }
            var readToTheEnd = true
            for try await var chunk in request.body {
                guard collected.add(&chunk) else {
                    readToTheEnd = false
                    break
                }
            }
            collected.finish(into: &call)
            call.overBudget = collected.overBudget
            // Past the idle timeout, as on the event loop: a journal that does not answer
            // (a disk that hangs its fsync) is answered 503.
            var deadline: Task<Void, Never>?
            let response = await withCheckedContinuation { continuation in
                let giveUp = ingest.receive(call, config: config) { continuation.resume(returning: $0) }
                deadline = Task {
                    try? await Task.sleep(for: idleTimeout)
                    if !Task.isCancelled { giveUp() }
                }
            }
            deadline?.cancel()
            var answer = respond(response)
            // Far too much to read: the connection ends with the answer (WebhookChannelHandler
            // closes it), or Hummingbird would read the rest until the idle timeout.
            if !readToTheEnd { answer.headers[.connection] = "close" }
            return answer
        }
        router.get("/v1/webhooks/:org/:channel") { request, context in
            respond(ingest.handshake(
                org: context.parameters.get("org") ?? "", channel: context.parameters.get("channel") ?? "",
                head: request.head, config: ingest.gateway.config))
        }
    }
}

func respond(_ response: WebhookResponse) -> Response {
    Response(
        status: HTTPResponse.Status(code: response.status),
        headers: [.contentType: response.contentType],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: response.body)))
}
