#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed, with the reason the system gave (a full disk is not a
/// permission problem) and the file it was about.
public struct SystemCallError: Error, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let reason: String
    /// errno.
    public let code: Int32

    /// `code`: errno, read right after the call that failed.
    public init(_ operation: String, path: String, errno code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
        self.reason = String(cString: strerror(code))
    }

    public var description: String { "\(operation) \(path): \(reason)" }
}
