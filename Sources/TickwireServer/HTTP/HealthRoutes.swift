import Hummingbird
import TickwireCore

/// `/healthz`: the process answers. `/readyz`: the journal takes writes and a config is
/// loaded. `/metrics`: Prometheus text.
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
            guard gateway.journal.isWritable else {
                return respond(.json(["status": "unavailable", "reason": "the journal cannot be written"], status: 503))
            }
            return respond(.json(["status": "ready"]))
        }
        router.get("/metrics") { _, _ in
            await refresh()
            return respond(WebhookResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.exposition()))
        }
    }
}
