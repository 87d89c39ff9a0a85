import Synchronization

/// Stops sending to a destination that keeps failing, and probes it until it answers.
///
/// Closed: every delivery goes. After `failures` deliveries in a row failed entirely, it
/// opens: deliveries wait, and once per `probeInterval` one of them goes as a probe
/// (half-open). A probe that succeeds closes it; one that fails keeps it open for another
/// interval. A dead console so costs one request per interval, whatever the backlog.
public final class CircuitBreaker: Sendable {
    public struct Policy: Sendable, Equatable {
        public var failures: Int
        public var probeInterval: Duration

        public init(failures: Int, probeInterval: Duration) {
            self.failures = failures
            self.probeInterval = probeInterval
        }
    }

    private struct State {
        var consecutiveFailures = 0
        /// When the next probe may go; nil while closed.
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    public let policy: Policy
    private let state = Mutex(State())

    public init(policy: Policy) {
        self.policy = policy
    }

    public var isOpen: Bool { state.withLock { $0.openUntil != nil } }

    /// Returns when a delivery may go (at once while closed); false when `keepWaiting`
    /// turned false first (the dispatcher is stopping). Cancellation ends the wait too.
    public func permit(keepWaiting: () -> Bool = { true }) async -> Bool {
        while keepWaiting() && !Task.isCancelled {
            let wait: Duration? = state.withLock { state in
                guard let openUntil = state.openUntil else { return nil }
                let now = ContinuousClock.now
                if !state.probing && now >= openUntil {
                    state.probing = true
                    return nil
                }
                return state.probing ? policy.probeInterval : openUntil - now
            }
            guard let wait else { return true }
            // Short naps, so that a stop or a closing probe is noticed soon.
            try? await Task.sleep(for: min(wait, .milliseconds(250)))
        }
        return false
    }

    /// Tells the breaker a permitted delivery was cut short (its task cancelled): that says
    /// nothing of the destination, but a probe cut short must let the next probe go, or
    /// every later `permit` would wait for a verdict that never comes.
    public func abandon() {
        state.withLock { $0.probing = false }
    }

    /// Tells the breaker how a permitted delivery went.
    public func record(failed: Bool) {
        state.withLock { state in
            if !failed {
                state = State()
                return
            }
            state.consecutiveFailures += 1
            if state.probing || state.consecutiveFailures >= policy.failures {
                state.openUntil = ContinuousClock.now + policy.probeInterval
                state.probing = false
            }
        }
    }
}
