import Foundation
import TickwireSinks
#if canImport(Glibc)
import Glibc
#endif

/// `storage.directory/tickwire.pid`, held with an exclusive `flock` while a daemon runs.
///
/// Two daemons on one directory would each think they own the journal: the second's start
/// retires the subscriptions its own config lacks (retention then forgets their cursors,
/// retry queues and dead letters), and both would append to the same JSONL files. The lock refuses the second
/// before it opens anything. The kernel drops it when the process dies, however it dies,
/// so a pid file left by a crash holds no one back, and `reload` never signals a process
/// that merely reused a dead daemon's pid.
public final class DataDirectoryLock: Sendable {
    public struct InUse: Error, CustomStringConvertible {
        public let directory: String
        public let pid: pid_t?
        public var description: String {
            let owner = pid.map { "process \($0)" } ?? "another process"
            return "storage.directory \(directory) is in use by \(owner) (a running tickwire); stop it first, or give this configuration a directory of its own"
        }
    }

    public let path: String
    private let descriptor: Int32

    public static func path(in directory: String) -> String { directory + "/tickwire.pid" }

    /// Takes the lock and writes this process's id, or throws `InUse` at once.
    public init(directory: String) throws {
        path = Self.path(in: directory)
        // The first to create storage.directory: its entry (and those of the directories
        // created above it) made durable now, or the journal could vanish with it on power
        // loss although every commit in it was fsynced.
        let created = try PrivateFiles.createDirectory(directory)
        try PrivateFiles.syncEntries(in: directory, created: created)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemCallError("open", path: path, errno: errno) }
        guard Self.lock(descriptor) else {
            let owner = Self.pid(in: descriptor)
            close(descriptor)
            throw InUse(directory: directory, pid: owner)
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// Takes the exclusive lock, trying for a moment: `holder(of:)` (a `tickwire reload`)
    /// holds a shared lock briefly, and a daemon starting just then must not give up.
    private static func lock(_ descriptor: Int32) -> Bool {
        for attempt in 0..<20 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno != EWOULDBLOCK || attempt == 19 { break }
            usleep(10_000)
        }
        return false
    }

    /// Empties the file and lets go. The file stays: removing it would let a daemon starting
    /// right now lock the old file while a third locks a new one.
    public func release() {
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    /// The id of the daemon holding `directory`, or nil when none does (whatever the file says).
    public static func holder(of directory: String) -> pid_t? {
        let descriptor = open(path(in: directory), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 { return nil }
        return pid(in: descriptor)
    }

    private static func pid(in descriptor: Int32) -> pid_t? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return pid_t(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
