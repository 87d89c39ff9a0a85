import Logging
import ServiceLifecycle
import Synchronization
import TickwireCore

/// Runs one dispatcher per subscription for the daemon's lifetime, and swaps the set on a
/// config reload.
///
/// On graceful shutdown (or when a reload removes a subscription) a dispatcher finishes the
/// batch in hand and stops; a batch waiting to be retried is left for the next start. The
/// service group cancels what still runs when the grace period ends.
final class DispatchService: Service {
    private struct Running {
        var dispatcher: SubscriptionDispatcher
        var wakeup: AsyncStream<Void>.Continuation
        var task: Task<Void, Never>
    }

    private struct State {
        var running: [String: Running] = [:]
        /// Dispatchers told to stop whose task has not ended yet (their subscription and
        /// task), so that cancellation reaches them too and nothing starts on their cursor.
        var stopping: [Int: (subscription: String, task: Task<Void, Never>)] = [:]
        var nextStopping = 0
        /// Once shut down, a reload starts nothing.
        var shutDown = false
        /// `run` has started what was asked for.
        var started = false
        /// What the service was made with, then what the last `replace` asked for: `run`
        /// starts that, so a reload that came first (SIGHUP just after start) stands.
        var requested: [SubscriptionDispatcher]
    }

    private let journal: any Journal
    private let logger: Logger
    private let state: Mutex<State>

    init(dispatchers: [SubscriptionDispatcher], journal: any Journal, logger: Logger) {
        self.state = Mutex(State(requested: dispatchers))
        self.journal = journal
        self.logger = logger
    }

    func run() async throws {
        // What was asked for is read under the lock `replace` takes: read before it, a
        // reload's `replace` in between was undone (the old dispatchers started again, a
        // removed subscription's among them).
        await replace(with: nil)
        state.withLock { $0.started = true }
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
            logger.info("dispatchers stopping")
            state.withLock { $0.shutDown = true }
            await replace(with: [])
        } onCancel: { [self] in
            state.withLock { state in
                for entry in state.running.values { entry.task.cancel() }
                for stopping in state.stopping.values { stopping.task.cancel() }
            }
        }
    }

    /// Keeps dispatchers whose route is unchanged, stops the others (after their current
    /// batch) and then starts the new ones: a subscription whose filters or sink changed
    /// never has two dispatchers on its cursor at once. (Except after a wait cancelled by a
    /// shutdown: the old dispatcher gives up on the delivery in flight, which may go on, a
    /// write stuck on a hung disk or a request to a console; its batch is delivered again,
    /// at least once.)
    /// `nil`: what was last asked for.
    func replace(with dispatchers: [SubscriptionDispatcher]?) async {
        let stopping: [(Int, Running)] = state.withLock { state in
            let dispatchers = dispatchers ?? state.requested
            if !state.shutDown { state.requested = dispatchers }
            let wanted = Dictionary(dispatchers.map { ($0.routeKey, $0) }, uniquingKeysWith: { first, _ in first })
            let gone = state.running.filter { wanted[$0.key] == nil }
            return gone.map { key, entry in
                state.running[key] = nil
                state.nextStopping += 1
                state.stopping[state.nextStopping] = (entry.dispatcher.subscription.id, entry.task)
                return (state.nextStopping, entry)
            }
        }
        for (_, entry) in stopping {
            entry.dispatcher.stop()
            entry.wakeup.finish()
        }
        for (id, entry) in stopping {
            // A cancelled wait (a reload cancelled by a shutdown) cancels what it waits for.
            await withTaskCancellationHandler {
                await entry.task.value
            } onCancel: {
                entry.task.cancel()
            }
            _ = state.withLock { $0.stopping.removeValue(forKey: id) }
        }
        state.withLock { state in
            guard !state.shutDown else { return }
            // What was asked for last: a replace that ran while this one waited for its
            // dispatchers to stop asked for the newer list, and must not be undone. A
            // subscription whose old dispatcher is still stopping is left to the replace
            // that stops it, which starts it next.
            let busy = Set(state.stopping.values.map(\.subscription))
            for dispatcher in state.requested where state.running[dispatcher.routeKey] == nil && !busy.contains(dispatcher.subscription.id) {
                let key = dispatcher.routeKey
                let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
                journal.wakeOnCommit(continuation)
                let task = Task { await dispatcher.run(commits: stream, wake: continuation) }
                state.running[key] = Running(dispatcher: dispatcher, wakeup: continuation, task: task)
            }
        }
    }

    /// Whether `run` has started the dispatchers it was asked for (tests).
    var hasStarted: Bool { state.withLock { $0.started } }

    /// The dispatchers currently running.
    var dispatchers: [SubscriptionDispatcher] {
        state.withLock { $0.running.values.map(\.dispatcher) }
    }
}
