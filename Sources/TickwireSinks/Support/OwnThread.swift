import Foundation

/// Runs `work` on a thread made for it and returns its result. For blocking calls that a
/// hung disk can hold for good (SQLite's open and close wait for fsyncs): on a thread of
/// Swift's pool, which has one per core, such a call stalled every task with it.
public func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
