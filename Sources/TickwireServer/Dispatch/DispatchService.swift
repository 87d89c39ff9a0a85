import Logging
import ServiceLifecycle
import Synchronization
import TickwireCore

/// Runs one dispatcher per subscription for the daemon's lifetime, and swaps the set on a
/// config reload.
///
/// On graceful shutdown (or when a reload removes a subscription) a dispatcher finishes the
/// batch in hand and stops; the service group cancels what still runs when the grace period
/// ends.
final class DispatchService: Service {
    private struct Running {
        var dispatcher: SubscriptionDispatcher
        var wakeup: AsyncStream<Void>.Continuation
        var task: Task<Void, Never>
    }

    private let journal: any Journal
    private let logger: Logger
    private let running = Mutex<[String: Running]>([:])
    private let shutDown = Mutex(false)
    private let initial: [SubscriptionDispatcher]

    init(dispatchers: [SubscriptionDispatcher], journal: any Journal, logger: Logger) {
        self.initial = dispatchers
        self.journal = journal
        self.logger = logger
    }

    func run() async throws {
        await replace(with: initial)
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
        } onCancel: { [self] in
            running.withLock { for entry in $0.values { entry.task.cancel() } }
        }
        logger.info("dispatchers stopping")
        // A reload that runs meanwhile must not start new ones behind this.
        shutDown.withLock { $0 = true }
        await replace(with: [])
    }

    /// Keeps dispatchers whose route is unchanged, stops the others (after their current
    /// batch) and then starts the new ones: a subscription whose filters or sink changed
    /// never has two dispatchers on its cursor at once. Once shut down, starts nothing.
    func replace(with dispatchers: [SubscriptionDispatcher]) async {
        let wanted = Dictionary(dispatchers.map { ($0.routeKey, $0) }, uniquingKeysWith: { first, _ in first })
        let stopping: [Running] = running.withLock { running in
            let gone = running.filter { wanted[$0.key] == nil }
            for key in gone.keys { running[key] = nil }
            return Array(gone.values)
        }
        for entry in stopping {
            entry.dispatcher.stop()
            entry.wakeup.finish()
        }
        for entry in stopping { await entry.task.value }
        running.withLock { running in
            guard !shutDown.withLock({ $0 }) else { return }
            for (key, dispatcher) in wanted where running[key] == nil {
                let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
                journal.wakeOnCommit(continuation)
                let task = Task { await dispatcher.run(commits: stream, wake: continuation) }
                running[key] = Running(dispatcher: dispatcher, wakeup: continuation, task: task)
            }
        }
    }

    /// The dispatchers currently running.
    var dispatchers: [SubscriptionDispatcher] {
        running.withLock { $0.values.map(\.dispatcher) }
    }
}
