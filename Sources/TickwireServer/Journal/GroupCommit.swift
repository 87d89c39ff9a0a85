/// Batches concurrent submissions into one commit: callers that arrive while a commit is in
/// flight share the next one, and each is told the outcome of its own items.
///
/// One commit (and one fsync) per batch instead of per request is what lets a durable
/// journal keep up with many concurrent webhooks. Commits run on a thread of their own, one
/// after another: the loop never waits for a task or a dispatch queue to be scheduled (those
/// handoffs were most of a commit's time on a busy machine; bench/RESULTS.md, 2026-11-30).
/// With a `WALSync`, a batch's callers are told after the next fsync, on the sync thread,
/// and the commit thread goes on with the next batch meanwhile.
final class GroupCommit<Item: Sendable, Outcome: Sendable>: Sendable {
    typealias Completion = @Sendable (Result<ArraySlice<Outcome>, Error>) -> Void

    private struct Waiter: Sendable {
        var items: [Item]
        var completion: Completion
    }

    private let thread: BatchThread<Waiter>

    /// `commit` handles one batch, blocking, and returns one outcome per item, in order; it
    /// is never called concurrently. With `sync`, a commit counts once `sync` has synced it.
    /// `durable` is handed each committed batch once it counts (after its sync), in commit
    /// order, before its callers are told.
    init(
        name: String, sync: WALSync? = nil, commit: @escaping @Sendable ([Item]) throws -> [Outcome],
        durable: @escaping @Sendable ([Item], [Outcome]) -> Void = { _, _ in }
    ) {
        thread = BatchThread(name: name)
        thread.start { batch in
            let items = batch.flatMap(\.items)
            let outcomes = Result { try commit(items) }
            guard case .success(let committed) = outcomes else { return Self.complete(batch, outcomes) }
            if let sync {
                sync.afterSync { error in
                    if error == nil { durable(items, committed) }
                    Self.complete(batch, error.map { .failure($0) } ?? outcomes)
                }
            } else {
                durable(items, committed)
                Self.complete(batch, outcomes)
            }
        }
    }

    /// Queues `items` for the next commit; `completion` runs on the commit (or sync) thread
    /// with the outcomes of these items once they are committed (or the commit failed).
    func submit(_ items: [Item], completion: @escaping Completion) {
        guard thread.submit(Waiter(items: items, completion: completion)) else {
            return completion(.failure(GroupCommitStopped()))
        }
    }

    /// How long the commit in hand has been running; nil between commits.
    var busyFor: Duration? { thread.busyFor }

    /// Ends the thread once what is waiting is committed, and returns then (what is closed
    /// next, the databases, must not be in use); later submits fail.
    func stop() {
        thread.stop()
    }

    private static func complete(_ batch: [Waiter], _ outcomes: Result<[Outcome], Error>) {
        var start = 0
        for waiter in batch {
            let end = start + waiter.items.count
            waiter.completion(outcomes.map { $0[start..<end] })
            start = end
        }
    }
}

struct GroupCommitStopped: Error, CustomStringConvertible {
    var description: String { "the journal is closed" }
}
