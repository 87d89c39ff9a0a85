import Testing
@testable import TickwireCore

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    let breaker = CircuitBreaker(policy: .init(failures: 2, probeInterval: .milliseconds(100)))

    /// Whether `permit` returns within `limit` (it waits while the breaker holds deliveries).
    /// The generous limits below only tell "soon" from "never": the whole suite runs in
    /// parallel on two cores, and a nap of 100 ms can take seconds there.
    func permits(within limit: Duration) async -> Bool {
        await permit(within: limit) != nil
    }

    func permit(within limit: Duration) async -> CircuitBreaker.Permit? {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        return await breaker.permit { clock.now < deadline }
    }

    static let closed = CircuitBreaker.Permit(probe: nil)

    @Test func opensAfterFailuresInARowAndClosesOnAGoodProbe() async throws {
        breaker.record(Self.closed, failed: true)
        #expect(!breaker.isOpen, "one failure is not a dead console")
        breaker.record(Self.closed, failed: true)
        #expect(breaker.isOpen)
        let probe = try #require(await permit(within: .seconds(10)), "the probe goes after the interval")
        #expect(probe.isProbe)
        #expect(await !permits(within: .milliseconds(300)), "one probe at a time")
        breaker.record(probe, failed: false)
        #expect(!breaker.isOpen)
        #expect(await permits(within: .seconds(10)), "a closed breaker lets the next delivery go")
    }

    /// A probe whose delivery was cancelled gives no verdict: the next one may go, instead
    /// of every delivery waiting for good.
    @Test func anAbandonedProbeLetsTheNextOneGo() async throws {
        breaker.record(Self.closed, failed: true)
        breaker.record(Self.closed, failed: true)
        let probe = try #require(await permit(within: .seconds(10)))
        breaker.abandon(probe)
        #expect(breaker.isOpen, "abandoning says nothing of the destination")
        #expect(await permits(within: .seconds(10)))
    }

    /// Deliveries permitted while the breaker was closed can end after it opened: their
    /// failures (or cancellations) are not the probe's verdict, and must not let a second
    /// probe go beside the one in flight.
    @Test func onlyTheProbeEndsTheProbe() async throws {
        breaker.record(Self.closed, failed: true)
        breaker.record(Self.closed, failed: true)
        let probe = try #require(await permit(within: .seconds(10)))
        breaker.record(Self.closed, failed: true)
        breaker.abandon(Self.closed)
        #expect(await !permits(within: .milliseconds(400)), "still one probe at a time")
        breaker.record(probe, failed: true)
        #expect(breaker.isOpen)
        #expect(await permits(within: .seconds(10)), "the next probe, an interval after the first one's verdict")
    }

    /// A probe whose verdict comes after the breaker closed (another delivery succeeded
    /// meanwhile) is an ordinary failure: one does not open a closed breaker again.
    @Test func aLateProbeFailureDoesNotReopenAClosedBreaker() async throws {
        breaker.record(Self.closed, failed: true)
        breaker.record(Self.closed, failed: true)
        let probe = try #require(await permit(within: .seconds(10)))
        breaker.record(Self.closed, failed: false)
        #expect(!breaker.isOpen)
        breaker.record(probe, failed: true)
        #expect(!breaker.isOpen, "one failure of a closed breaker")
    }
}
