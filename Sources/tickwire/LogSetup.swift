import Foundation
import Logging
import TickwireCore

enum LogSetup {
    /// Sets up swift-log once for the process, at the configured level, on standard error.
    static func bootstrap(_ config: LoggingConfig) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = config.loggerLevel
            return handler
        }
        return Logger(label: "tickwire")
    }
}
