/// The status of an outbound message (DESIGN §3).
///
/// The current status only moves forward along `enqueued < sent < delivered < read`;
/// `failed` is terminal for a message that was not delivered; `deleted` concerns a user's
/// own message and never changes an outbound status.
public enum MessageStatus: String, Sendable, CaseIterable, Codable, Comparable {
    case enqueued, sent, delivered, read, failed, deleted

    /// Position on the delivery ladder; nil for statuses off the ladder.
    public var rank: Int? {
        switch self {
        case .enqueued: 0
        case .sent: 1
        case .delivered: 2
        case .read: 3
        case .failed, .deleted: nil
        }
    }

    public static func < (lhs: MessageStatus, rhs: MessageStatus) -> Bool {
        (lhs.rank ?? -1) < (rhs.rank ?? -1)
    }

    /// The status a message has after `event` arrives while it is at `current`.
    ///
    /// Forward moves win, a late lower status is ignored, `failed` wins only before
    /// delivery, and nothing leaves a terminal `failed` except proof of delivery.
    public static func advance(_ current: MessageStatus?, with event: MessageStatus) -> MessageStatus? {
        guard let current else { return event == .deleted ? nil : event }
        switch (current, event) {
        case (_, .deleted): return current
        case (.delivered, .failed), (.read, .failed): return current
        case (_, .failed): return .failed
        case (.failed, let next): return (next.rank ?? 0) >= 2 ? next : .failed
        case (_, let next): return next > current ? next : current
        }
    }

    /// The ladder steps skipped when a message jumps from `current` to `next`, which the
    /// history records as inferred (a `read` without a `delivered` implies the delivery).
    public static func inferredSteps(from current: MessageStatus?, to next: MessageStatus) -> [MessageStatus] {
        guard next == .read, current != .delivered, current != .read else { return [] }
        return [.delivered]
    }
}
