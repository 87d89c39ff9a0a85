import Hummingbird
import TickwireCore

/// `/healthz`: the process answers. `/readyz`: the journal takes writes and a config is loaded.
struct HealthRoutes: Sendable {
    let gateway: Gateway

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
    }
}
