import ArgumentParser
import UnixSignals
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TickwireCore
import TickwireServer

@main
struct Tickwire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A webhook gateway for WhatsApp Business providers.",
        subcommands: [Serve.self, Check.self, Reload.self, ReplayCommand.self, BenchStore.self, BenchForward.self, BenchNormalize.self],
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
        // Trapped first: SIGHUP's default action ends the process, and a reload sent while
        // this one starts (a deploy script's `tickwire reload`) is applied once it serves.
        let reloads = await UnixSignalsSequence(trapping: .sighup)
        let config = try options.load()
        let logger = LogSetup.bootstrap(config.logging)
        // Before anything in the directory is opened: a second daemon must change nothing.
        let lock = try DataDirectoryLock(directory: config.storage.directory)
        defer { lock.release() }
        let daemon = try await Daemon.open(config: config, logger: logger)
        logger.info("starting", metadata: [
            "address": "\(config.server.listen)", "orgs": "\(config.orgs.count)",
            "subscriptions": "\(config.subscriptions.count)", "durability": "\(config.storage.durability.rawValue)",
        ])
        try await daemon.run(reloadingFrom: options.config, loader: options.loader, on: reloads)
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

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, then make the running daemon reload it (SIGHUP).",
        discussion: "The daemon is found through the pid file in storage.directory. An invalid configuration is reported here and not sent.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        let directory = config.storage.directory
        guard let pid = DataDirectoryLock.holder(of: directory) else {
            // storage.directory applies at a restart: after an edit, the running daemon
            // still holds the pid file of the directory it started with.
            FileHandle.standardError.write(Data(
                "no running daemon found (none holds \(DataDirectoryLock.path(in: directory))); if storage.directory changed since the daemon started, it still holds the old directory's pid file: restart it, or send SIGHUP to it (kill -HUP <pid>)\n".utf8))
            throw ExitCode(1)
        }
        guard kill(pid, SIGHUP) == 0 else {
            FileHandle.standardError.write(Data("cannot signal process \(pid)\n".utf8))
            throw ExitCode(1)
        }
        print("configuration OK; reload sent to process \(pid) (its log says when it is applied)")
    }
}
