import TickwireCore

/// What `tickwire check` prints for a valid configuration. Secrets are never shown.
struct ConfigSummary {
    let config: Config
    let registry: Registry

    var text: String {
        var lines = ["configuration OK: \(config.files.joined(separator: ", "))"]
        lines.append("listen: \(config.server.listen)  max body: \(config.server.maxBodyBytes) bytes")
        lines.append("journal: \(config.storage.journalPath)  durability: \(config.storage.durability.rawValue)")
        lines.append("sinks:")
        for (name, sink) in config.sinks.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(name) (\(sink.type))  \(sink.location)")
        }
        lines.append("orgs:")
        for org in config.orgs.values.sorted(by: { $0.name < $1.name }) {
            lines.append("  \(org.name)  api keys: \(org.apiKeys.count)  \(org.location)")
            for channel in org.channels.values.sorted(by: { $0.name < $1.name }) {
                lines.append("    channel \(channel.name): provider \(channel.provider), auth \(channel.authType)  POST /v1/webhooks/\(org.name)/\(channel.name)")
            }
            for subscription in org.subscriptions {
                let events = subscription.events.map { $0.map(\.description).joined(separator: ",") } ?? "*"
                let channels = subscription.channels?.joined(separator: ",") ?? "*"
                lines.append("    subscription \(subscription.name) -> \(subscription.sink)  events: \(events)  channels: \(channels)  from: \(subscription.from.rawValue)")
            }
        }
        lines.append("registered providers: \(registry.providerNames.joined(separator: ", "))")
        lines.append("registered auth types: \(registry.authNames.joined(separator: ", "))")
        lines.append("registered sinks: \(registry.sinkNames.joined(separator: ", "))")
        return lines.joined(separator: "\n")
    }
}
