import Dispatch
import Synchronization
@testable import TickwireServer

/// A journal (`durability: full`) whose fsyncs can be held back, as by a disk that hangs:
/// commits land, and their answers (and the dispatchers) wait for `release()`.
final class HeldSyncJournal: Sendable {
    private final class Gate: Sendable {
        let holding: Atomic<Bool>
        let semaphore = DispatchSemaphore(value: 0)
        init(holding: Bool) { self.holding = Atomic(holding) }
    }

    let journal: SQLiteJournal
    private let gate: Gate

    init(path: String, holding: Bool) throws {
        let gate = Gate(holding: holding)
        self.gate = gate
        journal = try SQLiteJournal(path: path, durability: .full, onSync: { _ in
            if gate.holding.load(ordering: .relaxed) { gate.semaphore.wait() }
        })
    }

    /// fsyncs from now on wait.
    func hold() { gate.holding.store(true, ordering: .relaxed) }

    /// Lets the waiting fsync return, and the ones after it.
    func release() {
        gate.holding.store(false, ordering: .relaxed)
        gate.semaphore.signal()
    }
}
