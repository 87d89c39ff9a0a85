import Foundation
import Logging
import Synchronization
import TickwireCore

/// One log line per record on standard error, as logfmt or JSON (`logging.format`).
///
/// Values are escaped so a hostile org name or header cannot forge a second log line.
public struct StructuredLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LoggingConfig.Format

    public init(label: String, level: Logger.Level, format: LoggingConfig.Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Timestamp.format(Date())), ("level", event.level.rawValue), ("msg", "\(event.message)"),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        let line = format == .json ? Self.json(fields) : Self.logfmt(fields)
        Self.output.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// Serializes writes so lines from concurrent tasks never interleave.
    private static let output = Mutex(())

    static func logfmt(_ fields: [(String, String)]) -> String {
        fields.map { key, value in
            let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" && $0.value != 0x7F }
            return plain ? "\(key)=\(value)" : "\(key)=\(JSONValue.string(value).serializedString())"
        }.joined(separator: " ")
    }

    static func json(_ fields: [(String, String)]) -> String {
        // Keys in a fixed order (time, level, msg first) read better than sorted keys.
        "{" + fields.map { "\(JSONValue.string($0.0).serializedString()):\(JSONValue.string($0.1).serializedString())" }.joined(separator: ",") + "}"
    }
}
