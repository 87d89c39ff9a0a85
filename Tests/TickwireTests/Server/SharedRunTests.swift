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

    /// A run stuck (a readiness probe on a hung disk) holds no caller past its timeout;
    /// one that answers in time gives its answer.
    @Test func callersGiveUpOnARunThatDoesNotAnswerInTime() async {
        let stuck = SharedRun<Bool> {
            try? await Task.sleep(for: .seconds(30))
            return true
        }
        let started = ContinuousClock.now
        let answers = await withTaskGroup(of: Bool?.self) { group in
            for _ in 0..<5 { group.addTask { await stuck.run(timeout: .milliseconds(200)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers == [nil, nil, nil, nil, nil])
        #expect(ContinuousClock.now - started < .seconds(10))
        let quick = SharedRun<Bool> { true }
        #expect(await quick.run(timeout: .seconds(5)) == true)
    }
}
