import Testing
import TickwireCore

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    let breaker = CircuitBreaker(policy: .init(failures: 2, probeInterval: .milliseconds(100)))

    /// Whether `permit` returns within `limit` (it waits while the breaker holds deliveries).
    /// The generous limits below only tell "soon" from "never": the whole suite runs in
    /// parallel on two cores, and a nap of 100 ms can take seconds there.
    func permits(within limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        return await breaker.permit { clock.now < deadline }
    }

    @Test func opensAfterFailuresInARowAndClosesOnAGoodProbe() async {
        breaker.record(failed: true)
        #expect(!breaker.isOpen, "one failure is not a dead console")
        breaker.record(failed: true)
        #expect(breaker.isOpen)
        #expect(await permits(within: .seconds(10)), "the probe goes after the interval")
        #expect(await !permits(within: .milliseconds(300)), "one probe at a time")
        breaker.record(failed: false)
        #expect(!breaker.isOpen)
        #expect(await permits(within: .milliseconds(50)))
    }

    /// A probe whose delivery was cancelled gives no verdict: the next one may go, instead
    /// of every delivery waiting for good.
    @Test func anAbandonedProbeLetsTheNextOneGo() async {
        breaker.record(failed: true)
        breaker.record(failed: true)
        #expect(await permits(within: .seconds(10)))
        breaker.abandon()
        #expect(breaker.isOpen, "abandoning says nothing of the destination")
        #expect(await permits(within: .seconds(10)))
    }
}
