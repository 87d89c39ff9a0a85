import Logging
import ServiceLifecycle
import TickwireCore
import UnixSignals

/// Reloads the configuration on SIGHUP. An invalid file is refused with its errors logged,
/// and the running configuration keeps serving.
///
/// The signals are trapped by whoever starts the daemon, before it opens anything: until
/// then SIGHUP's default action ends the process, and a `tickwire reload` that came while a
/// restart opened (and migrated) the journal killed it.
struct ReloadSignalService: Service {
    let daemon: Daemon
    let path: String
    let loader: ConfigLoader
    let signals: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            // A shutdown does not wait for a reload in progress: one replacing a dispatcher
            // waits for its delivery in flight, up to the sink's timeout (or longer), and the
            // server drained only after it. Cancelled, the replaced dispatcher stops at once
            // and its unconfirmed events are delivered again at the next start.
            await cancelWhenGracefulShutdown { await daemon.reload(from: path, loader: loader) }
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
        } catch is CancellationError where Task.isCancelled {
            // A shutdown came first: nothing was refused, and nothing is counted.
            logger.notice("reload cancelled by the shutdown")
            return ["cancelled by the shutdown"]
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
