import Logging
import ServiceLifecycle

/// Deletes journal entries that every subscription has taken and that are older than
/// `storage.retention`, delivery attempts older than that, and the state of subscriptions
/// retired (removed from the configuration) that long ago. Entries and attempts go in small
/// batches off the hot path (a big DELETE would hold the writer lock and stall ingress).
struct RetentionService: Service {
    let journal: any Journal
    let retention: Duration
    let interval: Duration
    let logger: Logger
    var batchSize = 500

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let forgotten = try await journal.forgetRetiredSubscriptions(olderThan: retention)
                if !forgotten.isEmpty {
                    logger.info("retired subscriptions forgotten", metadata: ["subscriptions": "\(forgotten.joined(separator: ","))"])
                }
                let events = try await drain { try await journal.prune(olderThan: retention, batchSize: batchSize) }
                let attempts = try await drain { try await journal.pruneAttempts(olderThan: retention, batchSize: batchSize) }
                if events + attempts > 0 {
                    logger.info("journal pruned", metadata: ["events": "\(events)", "attempts": "\(attempts)"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("journal pruning failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Repeats a batched delete until a batch comes back short, pausing between batches so
    /// that ingest gets the writer. Stops at a graceful shutdown: the services stop in turn,
    /// and the dispatchers were told to finish only after this returned, so a long backlog
    /// of deletions ate their `shutdown_grace` (the next pass goes on where this stopped).
    func drain(_ prune: () async throws -> Int) async throws -> Int {
        var total = 0
        while !Task.isShuttingDownGracefully {
            let count = try await prune()
            total += count
            if count < batchSize { return total }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(10)) }
            try Task.checkCancellation()
        }
        return total
    }
}
