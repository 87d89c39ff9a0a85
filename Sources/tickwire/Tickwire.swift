import ArgumentParser
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
        let config = try options.load()
        let logger = LogSetup.bootstrap(config.logging)
        let daemon = try await Daemon.open(config: config, logger: logger)
        logger.info("listening", metadata: [
            "address": "\(config.server.listen)", "orgs": "\(config.orgs.count)",
            "subscriptions": "\(config.subscriptions.count)", "durability": "\(config.storage.durability.rawValue)",
        ])
        let pidFile = PIDFile(directory: config.storage.directory)
        try pidFile.write()
        defer { pidFile.remove() }
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

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, then make the running daemon reload it (SIGHUP).",
        discussion: "The daemon is found through the pid file in storage.directory. An invalid configuration is reported here and not sent.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        let pidFile = PIDFile(directory: config.storage.directory)
        guard let pid = pidFile.read(), kill(pid, 0) == 0 else {
            FileHandle.standardError.write(Data("no running daemon found (\(pidFile.path))\n".utf8))
            throw ExitCode(1)
        }
        guard kill(pid, SIGHUP) == 0 else {
            FileHandle.standardError.write(Data("cannot signal process \(pid)\n".utf8))
            throw ExitCode(1)
        }
        print("configuration OK; reload sent to process \(pid) (its log says when it is applied)")
    }
}

/// `storage.directory/tickwire.pid`: how `tickwire reload` finds the daemon.
struct PIDFile {
    let path: String

    init(directory: String) {
        path = directory + "/tickwire.pid"
    }

    func write() throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    func read() -> pid_t? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func remove() {
        if read() == getpid() { try? FileManager.default.removeItem(atPath: path) }
    }
}
