import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import TickwireServer

@Suite("Retention service")
struct RetentionServiceTests {
    /// A long backlog of deletions stops at a graceful shutdown: the dispatchers are told to
    /// finish only once retention has returned, and a drain that ran on used up their
    /// `shutdown_grace`, so in-flight deliveries were cut off and sent again.
    @Test(.timeLimit(.minutes(1)))
    func aDrainStopsAtAGracefulShutdown() async throws {
        let directory = try TemporaryDirectory()
        let journal = try SQLiteJournal(path: directory.path + "/journal.sqlite", durability: .normal)
        let retention = RetentionService(journal: journal, retention: .seconds(3600), interval: .seconds(60), logger: .quiet)
        let batches = Atomic<Int>(0)
        let returned = Mutex<Int?>(nil)
        struct Draining: Service {
            let retention: RetentionService
            let batches: @Sendable () -> Void
            let returned: @Sendable (Int) -> Void
            func run() async throws {
                // Every batch comes back full: a backlog that never ends.
                returned(try await retention.drain {
                    batches()
                    return retention.batchSize
                })
            }
        }
        let group = ServiceGroup(
            services: [Draining(
                retention: retention, batches: { batches.add(1, ordering: .relaxed) },
                returned: { total in returned.withLock { $0 = total } })],
            gracefulShutdownSignals: [], cancellationSignals: [], logger: .quiet)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually { batches.load(ordering: .relaxed) >= 3 })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let total = try #require(returned.withLock { $0 })
        #expect(total == batches.load(ordering: .relaxed) * retention.batchSize, "returned what it deleted, without being cancelled")
        try await journal.close()
    }
}
