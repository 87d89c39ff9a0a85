import Logging
import ServiceLifecycle

/// Deletes journal entries that every subscription has taken and that are older than
/// `storage.retention`, in small batches off the hot path (a big DELETE would hold the
/// writer lock and stall ingress).
struct RetentionService: Service {
    let journal: any Journal
    let retention: Duration
    let interval: Duration
    let logger: Logger
    var batchSize = 500

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                var pruned = 0
                while true {
                    let count = try await journal.prune(olderThan: retention, batchSize: batchSize)
                    pruned += count
                    if count < batchSize { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                if pruned > 0 { logger.info("journal pruned", metadata: ["events": "\(pruned)"]) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("journal pruning failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
