import Synchronization

/// `task`'s value, or nil once `timeout` has passed (if given) or the caller is cancelled;
/// the task itself goes on. A write stuck on a hung disk ignores cancellation: whoever waits
/// for it (a readiness probe, a shutdown) must be able to stop waiting.
func value<Value: Sendable>(of task: Task<Value, Never>, within timeout: Duration?) async -> Value? {
    let answer = FirstAnswer<Value?>()
    return await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            answer.wait(continuation)
            Task { answer.give(await task.value) }
            if let timeout {
                Task {
                    try? await Task.sleep(for: timeout)
                    answer.give(nil)
                }
            }
        }
    } onCancel: {
        answer.give(nil)
    }
}

/// Runs `operation` in a task of its own, cancelled with the caller, and returns its value,
/// or nil as soon as the caller is cancelled, without waiting for `operation` to notice.
func abandoningOnCancel<Value: Sendable>(_ operation: @escaping @Sendable () async -> Value) async -> Value? {
    let answer = FirstAnswer<Value?>()
    // One task per call, on the dispatchers' path: it gives its own answer.
    let task = Task { answer.give(await operation()) }
    return await withTaskCancellationHandler {
        await withCheckedContinuation { answer.wait($0) }
    } onCancel: {
        task.cancel()
        answer.give(nil)
    }
}

/// Resumes one waiter with the first value given; later values are dropped. A value given
/// before the waiter comes is kept for it.
private final class FirstAnswer<Value: Sendable>: Sendable {
    private let state = Mutex<(waiter: CheckedContinuation<Value, Never>?, given: Value?, done: Bool)>((nil, nil, false))

    func wait(_ continuation: CheckedContinuation<Value, Never>) {
        let given: Value? = state.withLock { state in
            guard let given = state.given, !state.done else {
                state.waiter = continuation
                return nil
            }
            state.done = true
            return given
        }
        if let given { continuation.resume(returning: given) }
    }

    func give(_ value: Value) {
        let waiter: CheckedContinuation<Value, Never>? = state.withLock { state in
            guard !state.done else { return nil }
            guard let waiter = state.waiter else {
                if state.given == nil { state.given = value }
                return nil
            }
            state.done = true
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: value)
    }
}
