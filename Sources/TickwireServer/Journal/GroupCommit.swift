import Synchronization

/// Batches concurrent appends into one commit: requests that arrive while a commit is in
/// flight share the next one, and each caller resumes when its own items are committed.
///
/// One fsync per commit instead of per request is what lets a durable journal keep up with
/// many concurrent webhooks (STACK.md: ~8k req/s one-per-request vs ~25k+ grouped).
final class GroupCommit<Item: Sendable>: Sendable {
    private struct Waiter {
        var items: [Item]
        var continuation: CheckedContinuation<Void, Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var committing = false
    }

    private let state = Mutex(State())
    private let commit: @Sendable ([Item]) async throws -> Void

    /// `commit` writes one batch in one transaction; it is never called concurrently.
    init(commit: @escaping @Sendable ([Item]) async throws -> Void) {
        self.commit = commit
    }

    func submit(_ items: [Item]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let startCommitter = state.withLock { state in
                state.waiting.append(Waiter(items: items, continuation: continuation))
                if state.committing { return false }
                state.committing = true
                return true
            }
            if startCommitter {
                Task { await self.drain() }
            }
        }
    }

    /// Commits whatever is waiting, again and again, until nothing is.
    private func drain() async {
        while true {
            let batch = state.withLock { state in
                let batch = state.waiting
                state.waiting.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.committing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await commit(batch.flatMap(\.items))
                for waiter in batch { waiter.continuation.resume() }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
