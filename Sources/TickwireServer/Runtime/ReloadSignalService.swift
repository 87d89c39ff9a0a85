import Logging
import ServiceLifecycle
import TickwireCore
import UnixSignals

/// Reloads the configuration on SIGHUP. An invalid file is refused with its errors logged,
/// and the running configuration keeps serving.
struct ReloadSignalService: Service {
    let daemon: Daemon
    let path: String
    let loader: ConfigLoader
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            await daemon.reload(from: path, loader: loader)
        }
    }
}

extension Daemon {
    /// Loads `path` and swaps it in; logs and counts the outcome. Returns the errors, if any.
    @discardableResult
    public func reload(from path: String, loader: ConfigLoader) async -> [String] {
        do {
            let config = try loader.load(path: path)
            try await reload(config)
            metrics.configReload(succeeded: true)
            logger.notice("configuration reloaded", metadata: ["orgs": "\(config.orgs.count)", "subscriptions": "\(config.subscriptions.count)"])
            return []
        } catch let errors as ConfigErrors {
            metrics.configReload(succeeded: false)
            for error in errors.errors { logger.error("configuration refused; the previous one keeps serving", metadata: ["error": "\(error)"]) }
            return errors.errors.map(\.description)
        } catch {
            metrics.configReload(succeeded: false)
            logger.error("reload failed; the previous configuration keeps serving", metadata: ["error": "\(error)"])
            return ["\(error)"]
        }
    }
}
