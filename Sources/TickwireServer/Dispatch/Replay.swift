import Foundation
import TickwireCore

/// Puts events a subscription already took back in its retry queue: `tickwire replay` and
/// `POST /v1/orgs/{org}/subscriptions/{name}/replay`.
public struct Replay: Sendable {
    public var since: Date?
    public var until: Date?
    /// Only the subscription's dead letters (the usual case after a console outage).
    public var deadOnly: Bool

    /// A range that ends before it starts, or is empty (as the messages listing says).
    public struct InvalidRange: Error, CustomStringConvertible {
        public var description: String { "since must be before until" }
    }

    public init(since: Date? = nil, until: Date? = nil, deadOnly: Bool = false) throws(InvalidRange) {
        if let since, let until, since >= until { throw InvalidRange() }
        self.since = since
        self.until = until
        self.deadOnly = deadOnly
    }

    /// Returns how many events were queued. Events received in the range that the
    /// subscription's filters take are queued once: those still queued, and those after
    /// its cursor (not delivered yet), are not queued again. Events the journal no longer
    /// holds (past `storage.retention`) cannot be replayed; dead letters are kept until
    /// replayed.
    public func run(journal: any Journal, subscription: Subscription) async throws -> Int {
        let cursor = try await journal.cursor(subscription: subscription.id) ?? 0
        // A `since` past `distantFuture` with no `until` is an empty range, not a trap.
        let lower = since ?? .distantPast
        let range = lower...max(until ?? .distantFuture, lower)
        return try await journal.requeue(
            subscription: subscription.id, org: subscription.org, cursor: cursor, range: range, deadOnly: deadOnly
        ) { channel, type in
            subscription.matches(channel: channel, type: type)
        }
    }
}
