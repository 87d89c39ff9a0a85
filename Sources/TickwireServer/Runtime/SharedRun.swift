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
        await value(of: shared(), within: timeout)
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
