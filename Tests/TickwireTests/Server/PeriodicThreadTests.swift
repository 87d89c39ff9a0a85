import Foundation
import Synchronization
import Testing
import TickwireSinks

/// The background threads' loop (checkpoints, the event id writer, batch threads).
@Suite("Periodic threads", .timeLimit(.minutes(1)))
struct PeriodicThreadTests {
    /// A turn asking for an hour's sleep still runs again at once when woken; wake-ups that
    /// come during a turn make one more turn; a stop ends the sleep and waits for the thread.
    @Test func wakeUpsEndASleepAndComeTogetherAndAStopEndsIt() async throws {
        let turns = Atomic<Int>(0)
        let release = DispatchSemaphore(value: 0)
        let thread = PeriodicThread(name: "tw-test")
        thread.start {
            if turns.add(1, ordering: .relaxed).newValue == 2 { release.wait() }
            return .seconds(3600)
        }
        #expect(await eventually { turns.load(ordering: .relaxed) == 1 })
        thread.wake()
        #expect(await eventually { turns.load(ordering: .relaxed) == 2 }, "woken out of an hour's sleep")
        // Five wake-ups while turn 2 runs: one more turn.
        for _ in 0..<5 { thread.wake() }
        release.signal()
        #expect(await eventually { turns.load(ordering: .relaxed) == 3 })
        try await Task.sleep(for: .milliseconds(200))
        #expect(turns.load(ordering: .relaxed) == 3, "five wake-ups in a row are one turn")
        let stopping = ContinuousClock.now
        #expect(thread.stop())
        #expect(ContinuousClock.now - stopping < .seconds(5))
        #expect(!thread.stop(), "only the first stop stops it")
        #expect(turns.load(ordering: .relaxed) == 3)
    }

    /// A timed sleep ends by itself: its deadline is read from the clock the condition waits
    /// on (a wall-clock deadline on the monotonic condition would be decades away).
    @Test func aShortSleepEndsOnTime() async throws {
        let turns = Atomic<Int>(0)
        let thread = PeriodicThread(name: "tw-test")
        thread.start {
            turns.add(1, ordering: .relaxed)
            return .milliseconds(20)
        }
        #expect(await eventually { turns.load(ordering: .relaxed) >= 5 })
        thread.stop()
    }
}
