import Foundation
import Synchronization
import Testing
import TickwireSinks

/// The background threads' loop (checkpoints, the event id writer, batch threads).
@Suite("Periodic threads", .timeLimit(.minutes(1)))
struct PeriodicThreadTests {
    /// A turn asking for an hour's sleep still runs again at once when woken; wake-ups that
    /// came together make one turn; a stop ends the sleep and waits for the thread.
    @Test func wakeUpsEndASleepAndComeTogetherAndAStopEndsIt() async throws {
        let turns = Atomic<Int>(0)
        let thread = PeriodicThread(name: "tw-test")
        thread.start {
            turns.add(1, ordering: .relaxed)
            return .seconds(3600)
        }
        #expect(await eventually { turns.load(ordering: .relaxed) == 1 })
        thread.wake()
        #expect(await eventually { turns.load(ordering: .relaxed) == 2 }, "woken out of an hour's sleep")
        try await Task.sleep(for: .milliseconds(50))
        for _ in 0..<5 { thread.wake() }
        #expect(await eventually { turns.load(ordering: .relaxed) >= 3 })
        try await Task.sleep(for: .milliseconds(200))
        // One turn, or two if the thread woke between the wake-ups.
        let afterBurst = turns.load(ordering: .relaxed)
        #expect((3...4).contains(afterBurst), "five wake-ups in a row are not five turns (\(afterBurst - 2))")
        let stopping = ContinuousClock.now
        #expect(thread.stop())
        #expect(ContinuousClock.now - stopping < .seconds(5))
        #expect(!thread.stop(), "only the first stop stops it")
        #expect(turns.load(ordering: .relaxed) == afterBurst)
    }
}
