import Foundation
import Synchronization
import TickwireSinks

/// A thread of its own that takes everything queued since its last turn and handles it as
/// one batch: what arrives while a batch is handled goes in the next. Group commit (one
/// transaction per batch) and the WAL sync (one fsync per batch) are both this.
final class BatchThread<Item: Sendable>: Sendable {
    private struct State {
        var queued: [Item] = []
        var stopped = false
    }

    private let state = Mutex(State())
    /// Signalled when items arrive; the thread sleeps on it while there are none.
    private let wakeup = NSCondition()
    private let finished = DispatchSemaphore(value: 0)

    private let name: String

    init(name: String) {
        self.name = name
    }

    /// Starts the thread (once); `handle` gets each batch, in order, never concurrently.
    func start(_ handle: @escaping @Sendable ([Item]) -> Void) {
        Thread.start(named: name) { [self] in
            while let batch = next() { handle(batch) }
            finished.signal()
        }
    }

    /// Queues `item` for the next batch; false once stopped (nothing was queued).
    func submit(_ item: Item) -> Bool {
        let queued = state.withLock { state in
            guard !state.stopped else { return false }
            state.queued.append(item)
            return true
        }
        guard queued else { return false }
        wakeup.lock()
        wakeup.signal()
        wakeup.unlock()
        return true
    }

    /// Ends the thread once what is queued is handled, and returns then; true for the call
    /// that stopped it.
    @discardableResult
    func stop() -> Bool {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return false }
        wakeup.lock()
        wakeup.signal()
        wakeup.unlock()
        finished.wait()
        return true
    }

    /// What is queued, waiting while nothing is; nil once stopped and drained.
    private func next() -> [Item]? {
        while true {
            let (batch, stopped) = state.withLock { state in
                let batch = state.queued
                state.queued.removeAll(keepingCapacity: true)
                return (batch, state.stopped)
            }
            if !batch.isEmpty { return batch }
            if stopped { return nil }
            wakeup.lock()
            // Checked under the condition's lock, which submit takes to signal: no lost wakeup.
            if state.withLock({ $0.queued.isEmpty && !$0.stopped }) { wakeup.wait() }
            wakeup.unlock()
        }
    }
}
