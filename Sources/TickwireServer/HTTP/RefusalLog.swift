import Dispatch
import Logging
import Synchronization

/// At most `perSecond` refusal lines a second; the rest are counted, and the count is
/// logged with the next second's first line. Refusals need no credentials (an unknown org
/// is a 404), and one line per request let anyone fill the log, and hold every event loop
/// on a log pipe that drains slowly.
final class RefusalLog: Sendable {
    private struct Window {
        var second: Int64 = 0
        var logged = 0
        var dropped = 0
    }

    let perSecond: Int
    private let window = Mutex(Window())

    init(perSecond: Int = 20) {
        self.perSecond = perSecond
    }

    /// Runs `log` if this second's budget allows; otherwise counts it.
    func admit(_ logger: Logger, second: Int64 = RefusalLog.currentSecond(), _ log: () -> Void) {
        let (allowed, dropped) = window.withLock { window -> (Bool, Int) in
            var dropped = 0
            if window.second != second {
                dropped = window.dropped
                window = Window(second: second)
            }
            window.logged += 1
            if window.logged > perSecond { window.dropped += 1 }
            return (window.logged <= perSecond, dropped)
        }
        if dropped > 0 {
            logger.info("webhook refusals not logged", metadata: ["count": "\(dropped)", "limit": "\(perSecond) a second"])
        }
        if allowed { log() }
    }

    static func currentSecond() -> Int64 {
        Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000_000)
    }
}
