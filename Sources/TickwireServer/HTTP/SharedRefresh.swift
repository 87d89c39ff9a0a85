import Synchronization

/// Runs `work` for whoever asks, once at a time: callers that arrive while it runs wait for
/// that run instead of starting another. A scrape counts every subscription's backlog and
/// queue in SQLite; without this, parallel scrapes each ran all of those counts.
final class SharedRefresh: Sendable {
    private let work: @Sendable () async -> Void
    private let running = Mutex<Task<Void, Never>?>(nil)

    init(_ work: @escaping @Sendable () async -> Void) {
        self.work = work
    }

    func run() async {
        let task = running.withLock { running in
            if let running { return running }
            let task = Task { [work, self] in
                await work()
                self.running.withLock { $0 = nil }
            }
            running = task
            return task
        }
        await task.value
    }
}
