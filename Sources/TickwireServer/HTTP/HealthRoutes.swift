import Hummingbird
import TickwireCore

/// `/healthz`: the process answers. `/readyz`: the journal takes writes and a config is
/// loaded. `/metrics`: Prometheus text, behind `server.metrics_token` when one is set.
struct HealthRoutes: Sendable {
    let gateway: Gateway
    let metrics: GatewayMetrics
    /// Refreshes gauges that are computed at scrape time (subscription backlogs).
    let refresh: @Sendable () async -> Void

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            respond(.json(["status": "ok"]))
        }
        router.get("/readyz") { _, _ in
            if let problem = await gateway.journal.readinessProblem() {
                return respond(.json(["status": "unavailable", "reason": .string(problem)], status: 503))
            }
            return respond(.json(["status": "ready"]))
        }
        router.get("/metrics") { request, _ in
            if let token = gateway.config.server.metricsToken, !ConstantTime.equals(token, request.bearerToken ?? "") {
                return respond(WebhookRejection.unauthorized("the metrics token (server.metrics_token) is needed").response)
            }
            await refresh()
            return respond(WebhookResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.exposition()))
        }
    }
}
