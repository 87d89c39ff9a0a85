import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
        let line = Self.escapingLineSeparators(format == .json ? Self.json(fields) : Self.logfmt(fields)) + "\n"
        Self.output.withLock { _ in Self.writeToStandardError(line) }
    }

    /// Serializes writes so lines from concurrent tasks never interleave.
    private static let output = Mutex(())

    /// Writes with `write(2)` and drops what cannot be written: a full disk or a closed pipe
    /// behind standard error must cost log lines, never the process (FileHandle's `write`
    /// traps on any error).
    private static func writeToStandardError(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// Escapes the characters other than `\n` that some tools read as a line break (NEL, the
    /// C1 controls, U+2028, U+2029), as `\uXXXX`: they only ever occur inside quoted values.
    static func escapingLineSeparators(_ line: String) -> String {
        guard line.utf8.contains(where: { $0 >= 0xC2 }) else { return line }
        var escaped = String.UnicodeScalarView()
        for scalar in line.unicodeScalars {
            if (0x80...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029 {
                escaped.append(contentsOf: String(format: "\\u%04x", scalar.value).unicodeScalars)
            } else {
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    static func logfmt(_ fields: [(String, String)]) -> String {
        fields.map { key, value in
            let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { (0x21..<0x7F).contains($0.value) && $0 != "\"" && $0 != "=" && $0 != "\\" }
            return plain ? "\(key)=\(value)" : "\(key)=\(JSONValue.string(value).serializedString())"
        }.joined(separator: " ")
    }

    static func json(_ fields: [(String, String)]) -> String {
        // Keys in a fixed order (time, level, msg first) read better than sorted keys.
        "{" + fields.map { "\(JSONValue.string($0.0).serializedString()):\(JSONValue.string($0.1).serializedString())" }.joined(separator: ",") + "}"
    }
}
