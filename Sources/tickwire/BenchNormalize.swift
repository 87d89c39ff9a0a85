import ArgumentParser
import Crypto
import Foundation
import TickwireCore
import TickwireProviders

/// `tickwire bench-normalize`: the CPU one webhook costs between its body and the journal
/// row (signature or token check, JSON parse, normalization, CloudEvents serialization, the
/// acknowledgement), on one thread with nothing else running. Under wrk the same work shares
/// two cores with everything else and its figures move by a quarter between runs; this one
/// is steady enough to compare two builds.
struct BenchNormalize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-normalize", abstract: "Measure normalization: microseconds per webhook for the benchmark's bodies.")

    @Option(help: "The folder with meta_status_delivered.json and gupshup_v2_message_event_delivered.json.")
    var bodies = "bench/bodies"
    @Option(help: "Seconds per body.") var seconds = 3.0

    func run() throws {
        let channel = ChannelContext(org: "bench", channel: "bench", provider: "")
        // The benchmark config's secrets (bench/tickwire.yaml): Meta signs, Gupshup sends a token.
        let appSecret = "bench-app-secret", token = "bench-token-0123456789"
        let meta = try MetaSignatureAuthenticator(
            config: .init(appSecrets: [appSecret], verifyToken: "bench-verify-token"), channel: ChannelAuthContext(publicURL: nil))
        let gupshup = try TokenAuthenticator(config: .init(token: token), channel: ChannelAuthContext(publicURL: nil))
        let cases: [(String, any ProviderAdapter, any ChannelAuthenticator, String)] = [
            ("meta status", MetaAdapter(config: NoOptions()), meta, "meta_status_delivered.json"),
            ("gupshup message-event", GupshupAdapter(config: NoOptions()), gupshup, "gupshup_v2_message_event_delivered.json"),
        ]
        for (name, adapter, authenticator, file) in cases {
            let body = try Array(Data(contentsOf: URL(fileURLWithPath: bodies + "/" + file)))
            let signature = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(appSecret.utf8)))
            let request = WebhookRequest(
                method: .post, uri: "/v1/webhooks/bench/bench?token=\(token)",
                headers: ["content-type": "application/json", "x-hub-signature-256": "sha256=" + Hex.encode(signature)],
                query: ["token": token], body: body)
            var webhooks = 0
            var bytes = 0
            let start = ContinuousClock.now
            let end = start + .seconds(seconds)
            while ContinuousClock.now < end {
                for _ in 0..<100 {
                    try authenticator.authenticate(request)
                    let events = try adapter.normalize(request, channel: channel)
                    for event in events { bytes += event.keepingCloudEventBytes().cloudEventBytes.count }
                    _ = adapter.acknowledgement(for: request, eventIDs: events.map(\.id))
                    webhooks += 1
                }
            }
            let elapsed = (ContinuousClock.now - start).secondsValue
            print(String(
                format: "%@: %.2f us per webhook (%d webhooks in %.1f s, %d bytes of CloudEvents each)", name,
                elapsed * 1e6 / Double(webhooks), webhooks, elapsed, bytes / max(webhooks, 1)))
        }
    }
}
