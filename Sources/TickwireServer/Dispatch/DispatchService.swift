import Logging
import ServiceLifecycle
import Synchronization
import TickwireCore

/// Runs one dispatcher per subscription for the daemon's lifetime.
///
/// On graceful shutdown idle dispatchers stop at once and busy ones finish their batch;
/// the service group cancels what is still running when the grace period ends.
final class DispatchService: Service {
    private let dispatchers: [SubscriptionDispatcher]
    private let journal: any Journal
    private let logger: Logger
    private let wakeups = Mutex<[AsyncStream<Void>.Continuation]>([])

    init(dispatchers: [SubscriptionDispatcher], journal: any Journal, logger: Logger) {
        self.dispatchers = dispatchers
        self.journal = journal
        self.logger = logger
    }

    func run() async throws {
        let commits = journal.commits()
        // Fan each journal commit out to every dispatcher.
        let forwarder = Task { [self] in
            for await _ in commits {
                wakeups.withLock { for continuation in $0 { continuation.yield() } }
            }
        }
        defer { forwarder.cancel() }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for dispatcher in dispatchers {
                    let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
                    wakeups.withLock { $0.append(continuation) }
                    group.addTask { await dispatcher.run(commits: stream) }
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: { [self] in
            logger.info("dispatchers stopping")
            wakeups.withLock { for continuation in $0 { continuation.finish() } }
        }
    }
}
