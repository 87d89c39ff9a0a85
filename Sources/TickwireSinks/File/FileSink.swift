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
    private let template: FilePathTemplate
    public let batchWait: Duration
    private let durability: Durability
    private let logger: Logger
    private let handles = NIOLockedValueBox<[String: FileHandle]>([:])

    init(config: FileSinkConfig, context: SinkContext) throws(ConfigIssue) {
        self.template = try FilePathTemplate(config.path)
        self.batchWait = config.batchWait.duration
        self.durability = context.durability
        self.logger = context.logger
    }

    public func deliver(_ batch: [Event]) async -> DeliveryReport {
        // Group lines per file so each file gets one write and one fsync per batch.
        var writes: [(path: String, lines: Data)] = []
        var files: [FilePathTemplate.Key: Int] = [:]
        var previous: FilePathTemplate.Key?
        var index = 0
        for event in batch {
            let key = template.key(for: event)
            if key != previous {
                if let known = files[key] {
                    index = known
                } else {
                    index = writes.count
                    files[key] = index
                    writes.append((template.path(for: event), Data()))
                }
                previous = key
            }
            writes[index].lines.append(contentsOf: event.cloudEventBytes)
            writes[index].lines.append(0x0A)
        }
        do {
            try await NIOThreadPool.singleton.runIfActive { [self, writes] in
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
        try PrivateFiles.createDirectory(directory)
        if try PrivateFiles.createFile(path), durability == .full {
            Self.syncDirectory(directory.isEmpty ? "." : directory)
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
}

extension FileSink: SinkFactory {
    public static let name = "file"

    public static func validate(_ config: FileSinkConfig) throws(ConfigIssue) {
        guard !config.path.isEmpty else { throw ConfigIssue("path must not be empty") }
        _ = try FilePathTemplate(config.path)
    }

    public static func make(config: FileSinkConfig, context: SinkContext) async throws -> any Sink {
        try FileSink(config: config, context: context)
    }
}
