import ArgumentParser
import Foundation
import TickwireCore
import TickwireProviders

/// `tickwire bench-normalize`: the CPU one webhook costs between its body and the journal
/// row (JSON parse, normalization, CloudEvents serialization), on one thread with nothing else
/// running. Under wrk the same work shares two cores with everything else and its figures
/// move by a quarter between runs; this one is steady enough to compare two builds.
struct BenchNormalize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-normalize", abstract: "Measure normalization: microseconds per webhook for the benchmark's bodies.")

    @Option(help: "The folder with meta_status_delivered.json and gupshup_v2_message_event_delivered.json.")
    var bodies = "bench/bodies"
    @Option(help: "Seconds per body.") var seconds = 3.0

    func run() throws {
        let channel = ChannelContext(org: "bench", channel: "bench", provider: "")
        let cases: [(String, any ProviderAdapter, String)] = [
            ("meta status", MetaAdapter(config: NoOptions()), "meta_status_delivered.json"),
            ("gupshup message-event", GupshupAdapter(config: NoOptions()), "gupshup_v2_message_event_delivered.json"),
        ]
        for (name, adapter, file) in cases {
            let body = try Array(Data(contentsOf: URL(fileURLWithPath: bodies + "/" + file)))
            let request = WebhookRequest(method: .post, uri: "/v1/webhooks/bench/bench", headers: ["content-type": "application/json"], body: body)
            var webhooks = 0
            var bytes = 0
            let start = ContinuousClock.now
            let end = start + .seconds(seconds)
            while ContinuousClock.now < end {
                for _ in 0..<100 {
                    for event in try adapter.normalize(request, channel: channel) { bytes += event.keepingCloudEventBytes().cloudEventBytes.count }
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
