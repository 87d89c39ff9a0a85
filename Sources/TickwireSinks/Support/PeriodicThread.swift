import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TickwireCore

/// A thread of its own that runs a body again and again, sleeping between turns for as long
/// as the body asks, until stopped. For background work on a database (checkpoints, the event
/// id index) that must neither wait for a task to be scheduled nor block one.
public final class PeriodicThread: Sendable {
    private let name: String
    /// Guards `flags`; the thread sleeps on it.
    private let condition = MonotonicCondition()
    private nonisolated(unsafe) var flags = (started: false, stopped: false, woken: false)
    private let finished = DispatchSemaphore(value: 0)

    /// `name` shows in `top -H` and profiles.
    public init(name: String) {
        self.name = name
    }

    /// Starts the thread: `body` runs at once, then again after the duration it returns.
    public func start(_ body: @escaping @Sendable () -> Duration) {
        start(()) { _ in body() }
    }

    /// Starts the thread with `state`, which each turn of `body` may change and which only
    /// the thread sees.
    public func start<State: Sendable>(_ state: State, _ body: @escaping @Sendable (inout State) -> Duration) {
        condition.lock()
        defer { condition.unlock() }
        guard !flags.started, !flags.stopped else { return }
        flags.started = true
        Thread.start(named: name) { [self] in
            var state = state
            repeat {
                let interval = body(&state)
                guard sleep(interval) else { break }
            } while true
            finished.signal()
        }
    }

    /// Ends a sleep now: the next turn runs at once.
    public func wake() {
        condition.lock()
        flags.woken = true
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread after the turn in progress; returns once it has ended. True for the
    /// call that stopped it, false for later ones.
    @discardableResult
    public func stop() -> Bool {
        condition.lock()
        let first = !flags.stopped
        let wasRunning = flags.started && first
        flags.stopped = true
        condition.signal()
        condition.unlock()
        if wasRunning { finished.wait() }
        return first
    }

    /// Waits `interval` or until woken or stopped; false once stopped.
    private func sleep(_ interval: Duration) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = MonotonicCondition.deadline(after: interval)
        while !flags.stopped, !flags.woken, condition.wait(until: deadline) {}
        flags.woken = false
        return !flags.stopped
    }
}

/// A mutex and a condition whose timed waits run on the monotonic clock. Foundation's
/// `NSCondition` and libdispatch's semaphores on Linux both wait until a wall-clock time:
/// a clock stepped back (NTP at boot, a VM resumed) made a sleep last as long as the step.
final class MonotonicCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func signal() { pthread_cond_signal(condition) }

    /// The monotonic time `interval` from now.
    static func deadline(after interval: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Int64(now.tv_nsec) + max(0, min(interval.nanosecondsValue, Int64(100 * 365 * 86_400) * 1_000_000_000))
        return timespec(tv_sec: now.tv_sec + Int(total / 1_000_000_000), tv_nsec: Int(total % 1_000_000_000))
    }

    /// Waits (the lock held) for a signal or `deadline`; false once the deadline passed.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }
}

extension Thread {
    /// Starts a thread that runs `body`, named `name` (at most 15 bytes, or Linux refuses it)
    /// so that `top -H` and profiles tell it apart. Set from outside before the start, the
    /// name never reached the kernel here: the thread kept its creator's.
    public static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        precondition(name.utf8.count <= 15, "thread names are at most 15 bytes")
        Thread {
            Thread.current.name = name
            body()
        }.start()
    }
}
