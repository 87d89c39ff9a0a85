import TickwireCore

extension Registry {
    /// Every sink type shipped with Tickwire: one line each.
    public mutating func registerStandardSinks() {
        register(sink: FileSink.self)
        register(sink: StatusStoreSink.self)
        register(sink: HTTPForwarderSink.self)
    }
}
