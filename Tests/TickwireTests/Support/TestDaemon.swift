import Foundation
import Logging
import TickwireCore
import TickwireServer

/// A daemon on a temporary directory: real SQLite journal, real file sink, port 0.
enum TestDaemon {
    static let token = "test-token-0123456789"
    static let apiKey = "test-api-key-0123456789"

    /// `extraSinks` are more `name: {…}` lines under `sinks:`; `extra` more top-level YAML.
    static func config(
        in directory: TemporaryDirectory, durability: Durability = .full, archive: String? = nil, extraSinks: [String] = [],
        extra: String = "", idleTimeout: String = "30s", server: String = "", maxBodyBytes: Int = 65536
    ) throws -> Config {
        let yaml = """
            server: { listen: "127.0.0.1:0", max_body_bytes: \(maxBodyBytes), idle_timeout: \(idleTimeout)\(server.isEmpty ? "" : ", " + server) }
            storage: { directory: "\(directory.path)/data", durability: \(durability.rawValue) }
            sinks:
              archive: { type: file, path: "\(archive ?? directory.path + "/out/{org}/events.jsonl")" }
            \(extraSinks.map { "  " + $0 }.joined(separator: "\n"))
            orgs:
              demo:
                api_keys: [ "\(apiKey)" ]
                channels:
                  gupshup: { provider: gupshup, auth: { type: token, token: "\(token)" } }
                  open: { provider: gupshup, auth: { type: none } }
                subscriptions:
                  - { sink: archive }
            \(extra)
            """
        let path = try directory.write("config.yaml", yaml)
        return try ConfigLoader(registry: .standard, environment: [:]).load(path: path)
    }

    /// `logger` defaults to one that prints warnings and worse.
    static func open(
        in directory: TemporaryDirectory, durability: Durability = .full, idleTimeout: String = "30s", logger: Logger? = nil
    ) async throws -> Daemon {
        var warnings = Logger(label: "test")
        warnings.logLevel = .warning
        return try await Daemon.open(
            config: try config(in: directory, durability: durability, idleTimeout: idleTimeout), logger: logger ?? warnings)
    }
}

/// Polls until `condition` holds or the time runs out (for work done by background dispatchers).
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

extension Logger {
    /// A logger for tests that only shows what would crash the daemon.
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }
}
