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
        let task = running.withLock { running in
            if let running { return running }
            let task = Task { [work, self] in
                let value = await work()
                self.running.withLock { $0 = nil }
                return value
            }
            running = task
            return task
        }
        return await task.value
    }
}
