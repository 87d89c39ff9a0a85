/// The status of an outbound message (DESIGN §3).
///
/// The current status only moves forward along `enqueued < sent < delivered < read`;
/// `failed` is terminal for a message that was not delivered; `deleted` concerns a user's
/// own message and never changes an outbound status.
public enum MessageStatus: String, Sendable, CaseIterable, Codable {
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

    /// A message's current status from every status reported for it, in any order
    /// (DESIGN §3): the highest step reached, from `delivered` on; otherwise `failed` if a
    /// failure was reported; otherwise the highest step. A deletion (the user's own message,
    /// deleted for everyone) is the status only of a message with no delivery status: it
    /// never changes an outbound one. (A `read` also implies a `delivered` in the history:
    /// the status store records it as inferred.)
    public static func current(of statuses: [MessageStatus]) -> MessageStatus? {
        // Not `Comparable`: `failed` and `deleted` are off the ladder, and any place they
        // took in one order would be wrong somewhere.
        let ladder = statuses.compactMap { status in status.rank.map { (status, $0) } }.max { $0.1 < $1.1 }
        if let (status, rank) = ladder, rank >= 2 { return status }  // delivered or read
        let highest = ladder?.0
        if statuses.contains(.failed) { return .failed }
        return highest ?? (statuses.contains(.deleted) ? .deleted : nil)
    }
}
