import ArgumentParser
import Foundation
import Logging
import TickwireCore
import TickwireServer

@main
struct Tickwire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A webhook gateway for WhatsApp Business providers.",
        subcommands: [Serve.self, Check.self],
        defaultSubcommand: Serve.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file; it includes plugins.d/*.yaml by default.")
    var config = "config.yaml"

    var loader: ConfigLoader { ConfigLoader(registry: .standard) }

    /// Loads the file, or prints every error and exits 1.
    func load() throws -> Config {
        do {
            return try loader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default).")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        let logger = LogSetup.bootstrap(config.logging)
        let daemon = try await Daemon.open(config: config, logger: logger)
        logger.info("listening", metadata: [
            "address": "\(config.server.listen)", "orgs": "\(config.orgs.count)",
            "subscriptions": "\(config.subscriptions.count)", "durability": "\(config.storage.durability.rawValue)",
        ])
        try await daemon.run(reloadingFrom: options.config, loader: options.loader)
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the configuration and print a summary.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        print(ConfigSummary(config: config, registry: .standard).text)
    }
}
