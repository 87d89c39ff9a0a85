import Foundation
import TickwireCore

/// A thread of its own that runs a body again and again, sleeping between turns for as long
/// as the body asks, until stopped. For background work on a database (checkpoints, the event
/// id index) that must neither wait for a task to be scheduled nor block one.
public final class PeriodicThread: Sendable {
    private let name: String
    /// Guards `flags`.
    private let lock = NSLock()
    private nonisolated(unsafe) var flags = (started: false, stopped: false)
    /// What ends a sleep early (a wake-up or the stop). Waited on with a monotonic deadline:
    /// a condition's timed wait uses the wall clock, and a clock stepped back (NTP at boot,
    /// a VM resumed) made the thread sleep for the size of the step.
    private let wakeups = DispatchSemaphore(value: 0)
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
        lock.lock()
        defer { lock.unlock() }
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
        wakeups.signal()
    }

    /// Ends the thread after the turn in progress; returns once it has ended. True for the
    /// call that stopped it, false for later ones.
    @discardableResult
    public func stop() -> Bool {
        lock.lock()
        let first = !flags.stopped
        let wasRunning = flags.started && first
        flags.stopped = true
        lock.unlock()
        wakeups.signal()
        if wasRunning { finished.wait() }
        return first
    }

    /// Waits `interval` or until woken or stopped; false once stopped.
    private func sleep(_ interval: Duration) -> Bool {
        if !isStopped {
            _ = wakeups.wait(timeout: .now() + .nanoseconds(Int(clamping: interval.nanosecondsValue)))
            // Wake-ups that came together make one turn.
            while wakeups.wait(timeout: .now()) == .success {}
        }
        return !isStopped
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return flags.stopped
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
