extension Duration {
    /// The duration in whole nanoseconds (for APIs that take them: metrics, NIO timeouts).
    public var nanosecondsValue: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    /// The duration in seconds, for printing rates.
    public var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
