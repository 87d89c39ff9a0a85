import Synchronization
import TickwireCore

/// What request handlers share: the current configuration and the journal.
///
/// The configuration is swapped as a whole (hot reload), so a request sees one consistent
/// snapshot from lookup to answer.
public final class Gateway: Sendable {
    private let current: Mutex<Config>
    public let journal: any Journal

    public init(config: Config, journal: any Journal) {
        self.current = Mutex(config)
        self.journal = journal
    }

    public var config: Config { current.withLock { $0 } }

    public func replaceConfig(_ config: Config) {
        current.withLock { $0 = config }
    }
}
