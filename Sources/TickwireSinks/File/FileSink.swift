import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import TickwireCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes events as JSON Lines. A batch is written, flushed and (with durability `full`)
/// fsynced before it is confirmed, so a confirmed line survives a crash.
///
/// Writes and fsyncs block, so they run on NIO's blocking-I/O thread pool, never on a thread
/// that serves requests or runs tasks; a lock keeps the batches of several subscriptions
/// that share the sink from interleaving.
public final class FileSink: Sink {
    private let template: String
    public let batchWait: Duration
    private let durability: Durability
    private let logger: Logger
    private let handles = NIOLockedValueBox<[String: FileHandle]>([:])

    init(config: FileSinkConfig, context: SinkContext) {
        self.template = config.path
        self.batchWait = config.batchWait.duration
        self.durability = context.durability
        self.logger = context.logger
    }

    public func deliver(_ batch: [Event]) async -> DeliveryReport {
        // Group lines per file so each file gets one write and one fsync per batch.
        var lines: [String: Data] = [:]
        var order: [String] = []
        for event in batch {
            let path = Self.path(for: event, template: template)
            if lines[path] == nil { order.append(path) }
            lines[path, default: Data()].append(contentsOf: event.cloudEventBytes)
            lines[path]!.append(0x0A)
        }
        let writes = order.map { ($0, lines[$0]!) }
        do {
            try await NIOThreadPool.singleton.runIfActive { [self] in
                try handles.withLockedValue { handles in
                    for (path, data) in writes {
                        let handle = try handle(for: path, in: &handles)
                        try handle.write(contentsOf: data)
                        if durability == .full { try handle.synchronize() }
                    }
                }
            }
            return .all(.delivered, count: batch.count)
        } catch {
            logger.warning("file sink write failed", metadata: ["error": "\(error)"])
            // A partial write may leave a line twice after the retry: at-least-once, as documented.
            handles.withLockedValue(Self.closeAll)
            return .all(.retry(reason: "write failed: \(error)"), count: batch.count)
        }
    }

    public func shutdown() async {
        handles.withLockedValue(Self.closeAll)
    }

    private static func closeAll(_ handles: inout [String: FileHandle]) {
        for handle in handles.values { try? handle.close() }
        handles.removeAll()
    }

    private func handle(for path: String, in handles: inout [String: FileHandle]) throws -> FileHandle {
        if let handle = handles[path] { return handle }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        if !FileManager.default.fileExists(atPath: path) {
            // A file that cannot be created shows as the open below failing, with the path.
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
            if durability == .full { Self.syncDirectory(directory.isEmpty ? "." : directory) }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        try handle.seekToEnd()
        // Date-templated paths change daily: keep few handles open.
        if handles.count >= 64 { Self.closeAll(&handles) }
        handles[path] = handle
        return handle
    }

    /// A new file's directory entry must reach the disk too, or the file may vanish on power loss.
    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func path(for event: Event, template: String) -> String {
        guard template.contains("{") else { return template }
        // Plain concatenation: Foundation's replacingOccurrences per event showed in the profile.
        var path = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            path += rest[..<open]
            switch rest[open...close] {
            case "{org}": path += event.org
            case "{channel}": path += event.channel
            case "{date}": path += Timestamp.format(event.time).prefix(10)
            default: path += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return path + rest
    }
}

extension FileSink: SinkFactory {
    public static let name = "file"

    public static func validate(_ config: FileSinkConfig) throws(ConfigIssue) {
        guard !config.path.isEmpty else { throw ConfigIssue("path must not be empty") }
        var rest = config.path
        for placeholder in FileSinkConfig.placeholders { rest = rest.replacingOccurrences(of: placeholder, with: "") }
        if rest.contains("{") || rest.contains("}") {
            throw ConfigIssue("path \"\(config.path)\": unknown placeholder (known: \(FileSinkConfig.placeholders.joined(separator: ", ")))")
        }
    }

    public static func make(config: FileSinkConfig, context: SinkContext) async throws -> any Sink {
        FileSink(config: config, context: context)
    }
}
