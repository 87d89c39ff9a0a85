import Foundation
import Logging
import TickwireCore
import TickwireServer

enum LogSetup {
    /// Sets up swift-log once for the process, at the configured level, on standard error.
    static func bootstrap(_ config: LoggingConfig) -> Logger {
        LoggingSystem.bootstrap { label in
            StructuredLogHandler(label: label, level: config.loggerLevel, format: config.format)
        }
        return Logger(label: "tickwire")
    }
}
