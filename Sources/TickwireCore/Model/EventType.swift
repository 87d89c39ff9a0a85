/// The normalized event types (DESIGN §2). Every provider notification maps to one of these.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case messageReceived = "message.received"
    case messageEnqueued = "message.enqueued"
    case messageSent = "message.sent"
    case messageDelivered = "message.delivered"
    case messageRead = "message.read"
    case messageFailed = "message.failed"
    case messageDeleted = "message.deleted"
    case messageOther = "message.other"
    case userOptedIn = "user.opted_in"
    case userOptedOut = "user.opted_out"
    case userSandboxStarted = "user.sandbox_started"
    case billingCharged = "billing.charged"
    case templateUpdated = "template.updated"
    case accountUpdated = "account.updated"
    case providerUnknown = "provider.unknown"

    /// The event type that reports a message reaching `status`.
    public init(status: MessageStatus) {
        switch status {
        case .enqueued: self = .messageEnqueued
        case .sent: self = .messageSent
        case .delivered: self = .messageDelivered
        case .read: self = .messageRead
        case .failed: self = .messageFailed
        case .deleted: self = .messageDeleted
        }
    }
}
