import Synchronization
import Testing
@testable import TickwireServer

@Suite("Shared runs")
struct SharedRunTests {
    /// Parallel scrapes share one run of the counts; a later scrape gets a fresh one.
    @Test func callersDuringARunShareIt() async {
        let runs = Atomic<Int>(0)
        let refresh = SharedRun {
            let run = runs.add(1, ordering: .relaxed).newValue
            try? await Task.sleep(for: .milliseconds(300))
            return run
        }
        let results = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { await refresh.run() } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.load(ordering: .relaxed) < 20)
        #expect(Set(results).count == runs.load(ordering: .relaxed), "each caller got the result of the run it waited for")
        let before = runs.load(ordering: .relaxed)
        #expect(await refresh.run() == before + 1)
    }
}
