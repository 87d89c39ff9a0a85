import Foundation
import Synchronization

/// Batches concurrent appends into one commit: requests that arrive while a commit is in
/// flight share the next one, and each caller resumes when its own items are committed.
///
/// One fsync per commit instead of per request is what lets a durable journal keep up with
/// many concurrent webhooks (STACK.md: ~8k req/s one-per-request vs ~25k+ grouped). Commits
/// run on a thread of their own, one after another: the commit loop never waits for a task
/// or a dispatch queue to be scheduled (those handoffs were most of a commit's time on a
/// busy machine; bench/RESULTS.md, 2026-11-30).
final class GroupCommit<Item: Sendable>: Sendable {
    private struct Waiter {
        var items: [Item]
        var continuation: CheckedContinuation<Void, Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var stopped = false
    }

    private let state = Mutex(State())
    /// Signalled when work arrives; the writer thread sleeps on it while there is none.
    private let wakeup = NSCondition()
    private let commit: @Sendable ([Item]) throws -> Void

    /// `commit` writes one batch in one transaction, blocking; it is never called concurrently.
    init(name: String, commit: @escaping @Sendable ([Item]) throws -> Void) {
        self.commit = commit
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func submit(_ items: [Item]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let accepted = state.withLock { state in
                guard !state.stopped else { return false }
                state.waiting.append(Waiter(items: items, continuation: continuation))
                return true
            }
            guard accepted else {
                continuation.resume(throwing: GroupCommitStopped())
                return
            }
            wakeup.lock()
            wakeup.signal()
            wakeup.unlock()
        }
    }

    /// Ends the writer thread once what is waiting is committed; later submits fail.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeup.lock()
        wakeup.signal()
        wakeup.unlock()
    }

    /// Commits whatever is waiting, again and again; sleeps while nothing is.
    private func run() {
        while true {
            let (batch, stopped) = state.withLock { state in
                let batch = state.waiting
                state.waiting.removeAll(keepingCapacity: true)
                return (batch, state.stopped)
            }
            if batch.isEmpty {
                if stopped { return }
                wakeup.lock()
                // Checked under the condition's lock, which submit takes to signal: no lost wakeup.
                if state.withLock({ $0.waiting.isEmpty && !$0.stopped }) { wakeup.wait() }
                wakeup.unlock()
                continue
            }
            do {
                try commit(batch.flatMap(\.items))
                for waiter in batch { waiter.continuation.resume() }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}

struct GroupCommitStopped: Error, CustomStringConvertible {
    var description: String { "the journal is closed" }
}
