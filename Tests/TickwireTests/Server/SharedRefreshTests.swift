import Synchronization
import Testing
@testable import TickwireServer

@Suite("Shared refresh")
struct SharedRefreshTests {
    /// Parallel scrapes share one run of the counts; a later scrape gets a fresh one.
    @Test func callersDuringARunShareIt() async {
        let runs = Atomic<Int>(0)
        let refresh = SharedRefresh {
            runs.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .milliseconds(300))
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { await refresh.run() } }
        }
        #expect(runs.load(ordering: .relaxed) < 20)
        let before = runs.load(ordering: .relaxed)
        await refresh.run()
        #expect(runs.load(ordering: .relaxed) == before + 1)
    }
}
