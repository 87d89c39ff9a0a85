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
/// Writes and fsyncs block, so they run on a thread of the sink's own, never on a thread
/// that serves requests or runs tasks; a lock keeps the batches of several subscriptions
/// that share the sink from interleaving. Its own: on NIO's shared blocking-I/O pool (two
/// threads here), one sink's disk that hung an fsync held every other file sink up, and
/// closing files took the lock on the tasks' threads.
public final class FileSink: Sink {
    private let template: FilePathTemplate
    public let batchWait: Duration
    private let durability: Durability
    private let logger: Logger
    private let files = NIOLockedValueBox(OpenFiles())
    private let io = NIOThreadPool(numberOfThreads: 1)

    init(config: FileSinkConfig, context: SinkContext) throws(ConfigIssue) {
        self.template = try FilePathTemplate(config.path)
        self.batchWait = config.batchWait.duration
        self.durability = context.durability
        self.logger = context.logger
        io.start()
    }

    public func deliver(_ batch: [Event]) async -> DeliveryReport {
        // Group lines per file so each file gets one write and one fsync per batch.
        var writes: [(path: String, lines: [UInt8])] = []
        var indexes: [FilePathTemplate.Key: Int] = [:]
        var previous: FilePathTemplate.Key?
        var index = 0
        for event in batch {
            let key = template.key(for: event)
            if key != previous {
                if let known = indexes[key] {
                    index = known
                } else {
                    index = writes.count
                    indexes[key] = index
                    writes.append((template.path(for: event), []))
                }
                previous = key
            }
            writes[index].lines.append(contentsOf: event.cloudEventBytes)
            writes[index].lines.append(0x0A)
        }
        do {
            try await io.runIfActive { [self, writes] in
                try files.withLockedValue { files in
                    do {
                        for (path, lines) in writes {
                            try file(for: path, in: &files).append(lines, sync: durability == .full)
                        }
                    } catch {
                        // Closed before another batch can go through a failed descriptor.
                        Self.closeAll(&files)
                        throw error
                    }
                }
            }
            return .all(.delivered, count: batch.count)
        } catch {
            logger.warning("file sink write failed", metadata: ["error": "\(error)"])
            return .all(.retry(reason: "write failed: \(error)"), count: batch.count)
        }
    }

    public func shutdown() async {
        // The thread first: once it has stopped nothing else holds the files, and a close
        // queued on it would be skipped in a cancelled task (a shutdown's).
        try? await io.shutdownGracefully()
        files.withLockedValue(Self.closeAll)
    }

    private static func closeAll(_ files: inout OpenFiles) {
        for (file, _) in files.byPath.values { file.close() }
        files.byPath.removeAll()
    }

    /// The open file at `path`, reopened when the path no longer leads to it (logrotate moved
    /// or removed it: writing on would confirm lines nobody can read).
    private func file(for path: String, in files: inout OpenFiles) throws -> AppendFile {
        files.clock += 1
        if let (file, _) = files.byPath[path] {
            if file.isStillAtItsPath {
                files.byPath[path] = (file, files.clock)
                return file
            }
            file.close()
            files.byPath[path] = nil
        }
        let file = try AppendFile.open(path, durability: durability)
        // Date-templated paths change daily: keep few files open, closing the one unused
        // longest (closing all of them made more than 64 busy paths reopen every batch).
        if files.byPath.count >= OpenFiles.most, let oldest = files.byPath.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            oldest.value.file.close()
            files.byPath[oldest.key] = nil
        }
        files.byPath[path] = (file, files.clock)
        return file
    }

    /// The files open, each with when it was last written.
    private struct OpenFiles {
        static let most = 64
        var byPath: [String: (file: AppendFile, lastUse: UInt64)] = [:]
        var clock: UInt64 = 0
    }
}

/// One JSONL file, opened for appending (`O_APPEND`: every write lands at the end, even
/// after another writer or a truncation moved it).
struct AppendFile {
    let path: String
    let descriptor: Int32
    let identity: FileIdentity

    /// Opens `path`, creating it (and its directories) for this user only; with `full`
    /// durability a new directory entry is fsynced too, or the file may vanish on power loss.
    static func open(_ path: String, durability: Durability) throws -> AppendFile {
        let directory = (path as NSString).deletingLastPathComponent
        let createdDirectories = try PrivateFiles.createDirectory(directory)
        try PrivateFiles.createFile(path)
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { throw SystemCallError("open", path: path, errno: errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let error = SystemCallError("stat", path: path, errno: errno)
            Glibc.close(descriptor)
            throw error
        }
        let file = AppendFile(path: path, descriptor: descriptor, identity: FileIdentity(status))
        if (status.st_mode & S_IFMT) == S_IFREG {
            do {
                try file.endWholeLine(size: status.st_size)
            } catch {
                file.close()
                throw error
            }
        }
        if durability == .full {
            do {
                try PrivateFiles.syncEntries(in: directory, created: createdDirectories)
            } catch {
                file.close()
                throw error
            }
        }
        return file
    }

    /// A file that ends in the middle of a line (a crash during a write, or a power cut
    /// before its data reached the disk) gets a line break first: appended to the half
    /// line, the batch's first line, delivered again, was unreadable too. (Cutting the half
    /// line off could take another writer's line.)
    /// The byte is read through a descriptor of its own: the one written through stays
    /// write-only, for files this user may write and not read. One it cannot read, or that
    /// is no longer the file opened (rotated meanwhile), is left as it is.
    private func endWholeLine(size: off_t) throws {
        guard size > 0 else { return }
        let reader = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return }
        defer { Glibc.close(reader) }
        guard FileIdentity(descriptor: reader) == identity else { return }
        var last: UInt8 = 0
        guard pread(reader, &last, 1, size - 1) == 1 else { return }
        if last != UInt8(ascii: "\n") { try append([UInt8(ascii: "\n")], sync: false) }
    }

    /// Whether its path still names this file.
    var isStillAtItsPath: Bool {
        FileIdentity(path: path) == identity
    }

    /// Writes `bytes` at the end, whole or not at all: after a failed write (a full disk) the
    /// file is cut back to where it ended, so a retry never leaves half a line before the
    /// whole one.
    func append(_ bytes: [UInt8], sync: Bool) throws {
        let end = size
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if written > 0 {
                offset += written
                continue
            }
            let code = written < 0 ? errno : ENOSPC
            if code == EINTR { continue }
            // Only if the file is exactly what this write left: another writer (a second sink
            // on the same file) or a truncation since must not lose lines or grow a hole.
            if let end, size == end + off_t(offset) { _ = ftruncate(descriptor, end) }
            throw SystemCallError("write", path: path, errno: code)
        }
        if sync && fsync(descriptor) != 0 { throw SystemCallError("fsync", path: path, errno: errno) }
    }

    private var size: off_t? {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? status.st_size : nil
    }

    func close() {
        Glibc.close(descriptor)
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
