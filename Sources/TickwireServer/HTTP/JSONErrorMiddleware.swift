import Hummingbird
import TickwireCore

/// Answers what no route takes with the same JSON error body as every other refusal:
/// Hummingbird's own answer to an unknown path or method is an empty 404. A known webhook
/// URL asked with another method is a 405.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            let path = request.uri.path
            let rejection = WebhookChannelHandler.webhookPath(path) != nil
                ? WebhookRejection(status: 405, code: "method_not_allowed", message: "webhook URLs take POST (and GET for Meta's handshake)")
                : WebhookRejection.notFound("no endpoint \(request.method) \(WebhookIngest.printable(path))")
            // A HEAD answer has no body (the encoder does not know the request's method).
            return request.method == .head ? respond(rejection.response).createHeadResponse() : respond(rejection.response)
        }
    }
}
