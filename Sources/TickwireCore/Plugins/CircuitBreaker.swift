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
        /// The probe in flight, by number: a late verdict of an earlier probe (after the
        /// breaker closed, or after it was abandoned) is an ordinary delivery's.
        var probe: Int?
        var probesSent = 0
    }

    public let policy: Policy
    private let state = Mutex(State())

    public init(policy: Policy) {
        self.policy = policy
    }

    public var isOpen: Bool { state.withLock { $0.openUntil != nil } }

    /// What `permit` hands out: whether the delivery goes as the probe. Only the probe's
    /// outcome ends the probe: a delivery permitted while the breaker was still closed
    /// that failed (or was cut short) meanwhile let a second probe go beside the first.
    public struct Permit: Sendable {
        /// The probe's number; nil for a delivery while closed.
        let probe: Int?
        var isProbe: Bool { probe != nil }
    }

    /// Returns when a delivery may go (at once while closed); nil when `keepWaiting`
    /// turned false first (the dispatcher is stopping). Cancellation ends the wait too.
    public func permit(keepWaiting: () -> Bool = { true }) async -> Permit? {
        while keepWaiting() && !Task.isCancelled {
            // A permit, or how long to wait before asking again.
            let (permit, wait): (Permit?, Duration) = state.withLock { state in
                guard let openUntil = state.openUntil else { return (Permit(probe: nil), .zero) }
                let now = ContinuousClock.now
                if state.probe == nil && now >= openUntil {
                    state.probesSent += 1
                    state.probe = state.probesSent
                    return (Permit(probe: state.probesSent), .zero)
                }
                return (nil, state.probe != nil ? policy.probeInterval : openUntil - now)
            }
            if let permit { return permit }
            // Short naps, so that a stop or a closing probe is noticed soon.
            try? await Task.sleep(for: min(wait, .milliseconds(250)))
        }
        return nil
    }

    /// Tells the breaker a permitted delivery was cut short (its task cancelled): that says
    /// nothing of the destination, but a probe cut short must let the next probe go, or
    /// every later `permit` would wait for a verdict that never comes.
    public func abandon(_ permit: Permit) {
        state.withLock { state in
            if let probe = permit.probe, probe == state.probe { state.probe = nil }
        }
    }

    /// Tells the breaker how a permitted delivery went.
    public func record(_ permit: Permit, failed: Bool) {
        state.withLock { state in
            if !failed {
                state.consecutiveFailures = 0
                state.openUntil = nil
                state.probe = nil
                return
            }
            state.consecutiveFailures += 1
            let isCurrentProbe = permit.probe != nil && permit.probe == state.probe
            if isCurrentProbe || (state.openUntil == nil && state.consecutiveFailures >= policy.failures) {
                state.openUntil = ContinuousClock.now + policy.probeInterval
                state.probe = nil
            }
        }
    }
}
