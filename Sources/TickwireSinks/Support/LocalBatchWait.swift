import TickwireCore

extension ConfigDuration {
    /// The default `batch_wait` of the file and sqlite sinks. Under load, one write and one
    /// fsync then carry the events of many journal commits instead of a few (bench/RESULTS.md);
    /// when idle, an event reaches the sink this much later.
    public static let localBatchWait = ConfigDuration(duration: .milliseconds(10), description: "10ms")
}
