import TickwireCore

extension Registry {
    /// Every provider adapter and channel auth type shipped with Tickwire: one line each.
    public mutating func registerStandardProviders() {
    }
}
