import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TickwireCore
import TickwireServer

enum LogSetup {
    /// Sets up swift-log once for the process, at the configured level, on standard error.
    static func bootstrap(_ config: LoggingConfig) -> Logger {
        // A log pipe whose reader went away must cost log lines, not the process: without
        // this, the next line's write(2) raises SIGPIPE, which terminates.
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            StructuredLogHandler(label: label, level: config.loggerLevel, format: config.format)
        }
        return Logger(label: "tickwire")
    }
}
