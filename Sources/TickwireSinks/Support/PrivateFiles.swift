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
    /// earlier open may have created them and failed before its fsync.
    public static func syncEntries(in directory: String, created: [String] = []) throws {
        let here = directory.isEmpty ? "." : directory
        let parents = [here, (here as NSString).deletingLastPathComponent] + created.map { ($0 as NSString).deletingLastPathComponent }
        for parent in Set(parents.map { $0.isEmpty ? "." : $0 }) {
            let descriptor = open(parent, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw SystemCallError("open directory", path: parent, errno: errno) }
            defer { close(descriptor) }
            guard fsync(descriptor) == 0 else { throw SystemCallError("fsync directory", path: parent, errno: errno) }
        }
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
