import Synchronization

/// Runs `work` for whoever asks, once at a time: callers that arrive while it runs wait for
/// that run and get its result instead of starting another. A scrape counts every
/// subscription's backlog and queue in SQLite, and a readiness probe allocates a file and
/// writes: parallel callers each ran all of it, or (the probe) were answered "not ready"
/// while another caller's probe was finding out.
final class SharedRun<Value: Sendable>: Sendable {
    private let work: @Sendable () async -> Value
    private let running = Mutex<Task<Value, Never>?>(nil)

    init(_ work: @escaping @Sendable () async -> Value) {
        self.work = work
    }

    func run() async -> Value {
        await shared().value
    }

    /// The shared run's result, or nil when it has not come within `timeout` (or the caller
    /// was cancelled): a probe stuck on a hung disk must not hold every caller with it.
    func run(timeout: Duration) async -> Value? {
        let task = shared()
        let answer = FirstAnswer<Value?>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                answer.wait(continuation)
                Task { answer.give(await task.value) }
                Task {
                    try? await Task.sleep(for: timeout)
                    answer.give(nil)
                }
            }
        } onCancel: {
            answer.give(nil)
        }
    }

    private func shared() -> Task<Value, Never> {
        running.withLock { running in
            if let running { return running }
            let task = Task { [work, self] in
                let value = await work()
                self.running.withLock { $0 = nil }
                return value
            }
            running = task
            return task
        }
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
