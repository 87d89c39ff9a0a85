import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files and directories Tickwire creates are its user's alone: they hold raw webhooks,
/// phone numbers and delivery history. What already exists is left as its owner set it.
public enum PrivateFiles {
    /// Creates `directory`, and any missing parent, with mode 0700; returns the directories
    /// it created, outermost first (their parents' entries need an fsync to be durable).
    @discardableResult
    public static func createDirectory(_ directory: String) throws -> [String] {
        var missing: [String] = []
        var path = directory
        while !path.isEmpty, path != "/", !FileManager.default.fileExists(atPath: path) {
            missing.insert(path, at: 0)
            path = (path as NSString).deletingLastPathComponent
        }
        guard !missing.isEmpty else { return [] }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return missing
    }

    /// Makes the entries of a file created in `directory` durable: fsyncs the directory,
    /// its parent (whose entry for it a first start created), and the parents of the
    /// directories `created`. Run on every open, not only on one that created something: an
    /// earlier open may have created them and failed before its fsync. A parent this user
    /// may not read (a home directory with mode 0711) cannot be synced by anyone but its
    /// owner: skipped.
    public static func syncEntries(in directory: String, created: [String] = []) throws {
        let here = directory.isEmpty ? "." : directory
        try syncDirectory(here)
        let parents = [(here as NSString).deletingLastPathComponent] + created.map { ($0 as NSString).deletingLastPathComponent }
        for parent in Set(parents.map { $0.isEmpty ? "." : $0 }) where parent != here {
            try syncDirectory(parent, unreadable: .skip)
        }
    }

    public enum Unreadable { case fail, skip }

    /// fsyncs a directory, so that the entries created in it are durable.
    public static func syncDirectory(_ path: String, unreadable: Unreadable = .fail) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0, unreadable == .skip, errno == EACCES || errno == EPERM { return }
        guard descriptor >= 0 else { throw SystemCallError("open directory", path: path, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw SystemCallError("fsync directory", path: path, errno: errno) }
    }

    /// Creates an empty file with mode 0600 unless one exists; returns whether it created one.
    /// SQLite gives a database's WAL and shared-memory files the database file's mode.
    @discardableResult
    public static func createFile(_ path: String) throws -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return true
        }
        let code = errno
        if code == EEXIST { return false }
        throw SystemCallError("create", path: path, errno: code)
    }
}
