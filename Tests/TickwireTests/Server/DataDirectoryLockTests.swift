import Foundation
import Testing
import TickwireServer

/// One daemon per data directory: a second one is refused before it opens anything.
@Suite("Data directory lock")
struct DataDirectoryLockTests {
    @Test func aSecondHolderIsRefusedAndTheFirstIsFound() throws {
        let directory = try TemporaryDirectory()
        let data = directory.path + "/data"
        #expect(DataDirectoryLock.holder(of: data) == nil)
        let lock = try DataDirectoryLock(directory: data)
        #expect(DataDirectoryLock.holder(of: data) == getpid())
        #expect(try String(contentsOfFile: lock.path, encoding: .utf8) == "\(getpid())\n")
        #expect(try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? Int == 0o700)
        do {
            _ = try DataDirectoryLock(directory: data)
            Issue.record("a second lock on the same directory was granted")
        } catch let error as DataDirectoryLock.InUse {
            #expect(error.pid == getpid())
            #expect(error.description.contains("in use by process \(getpid())"))
        }
        lock.release()
        #expect(DataDirectoryLock.holder(of: data) == nil)
        let again = try DataDirectoryLock(directory: data)
        again.release()
    }

    /// A pid file left by a crash names a process that may now be another program: nobody
    /// holds the lock, so nobody is signalled.
    @Test func aStalePidFileNamesNoHolder() throws {
        let directory = try TemporaryDirectory()
        let data = directory.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try "\(getpid())\n".write(toFile: DataDirectoryLock.path(in: data), atomically: true, encoding: .utf8)
        #expect(DataDirectoryLock.holder(of: data) == nil)
        let lock = try DataDirectoryLock(directory: data)
        lock.release()
    }
}
