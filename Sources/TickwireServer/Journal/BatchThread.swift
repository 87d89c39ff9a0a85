import Dispatch
import Synchronization
import TickwireSinks

/// A thread of its own that takes everything queued since its last turn and handles it as
/// one batch: what arrives while a batch is handled goes in the next. Group commit (one
/// transaction per batch) and the WAL sync (one fsync per batch) are both this: a
/// `PeriodicThread` that each submit wakes.
final class BatchThread<Item: Sendable>: Sendable {
    private struct State {
        var queued: [Item] = []
        var stopped = false
        var handle: (@Sendable ([Item]) -> Void)?
    }

    private let state = Mutex(State())
    private let thread: PeriodicThread
    /// When the batch in hand was taken (uptime nanoseconds), 0 between batches.
    private let busySince = Atomic<UInt64>(0)

    init(name: String) {
        thread = PeriodicThread(name: name)
    }

    /// Starts the thread (once); `handle` gets each batch, in order, never concurrently.
    func start(_ handle: @escaping @Sendable ([Item]) -> Void) {
        state.withLock { $0.handle = handle }
        thread.start { [self] in
            let batch = take()
            if !batch.isEmpty {
                busySince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                handle(batch)
                busySince.store(0, ordering: .relaxed)
            }
            // Until the next submit wakes it.
            return .seconds(3600)
        }
    }

    /// Queues `item` for the next batch; false once stopped (nothing was queued).
    func submit(_ item: Item) -> Bool {
        let queued = state.withLock { state in
            guard !state.stopped else { return false }
            state.queued.append(item)
            return true
        }
        if queued { thread.wake() }
        return queued
    }

    /// Ends the thread once what is queued is handled (what came after its last turn is
    /// handled here), and returns then; true for the call that stopped it.
    @discardableResult
    func stop() -> Bool {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return false }
        thread.stop()
        let (rest, handle) = state.withLock { state in
            defer { state.queued = [] }
            return (state.queued, state.handle)
        }
        if !rest.isEmpty { handle?(rest) }
        return true
    }

    /// How long the batch in hand has been handled; nil between batches.
    var busyFor: Duration? {
        let since = busySince.load(ordering: .relaxed)
        guard since > 0 else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        return .nanoseconds(Int64(clamping: now > since ? now - since : 0))
    }

    private func take() -> [Item] {
        state.withLock { state in
            defer { state.queued.removeAll(keepingCapacity: true) }
            return state.queued
        }
    }
}
