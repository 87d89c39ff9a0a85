import Foundation

/// A fresh directory under the system temp folder, removed when the test is done with it.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "tickwire-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `text` to `name` (subfolders created) and returns the full path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func read(_ name: String) -> String? {
        try? String(contentsOfFile: path + "/" + name, encoding: .utf8)
    }

    /// Lines of a JSONL file, empty if it does not exist.
    func lines(_ name: String) -> [String] {
        (read(name) ?? "").split(separator: "\n").map(String.init)
    }
}

enum RepositoryFiles {
    /// The repository root, found from this source file's location.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support, TickwireTests, Tests, <root>
        return url.path
    }()

    /// `../shared/corpus` beside the repository (CI clones with shared/ next to it).
    static let corpus = root + "/../shared/corpus"

    static func corpusFile(_ relative: String) throws -> [UInt8] {
        let path = corpus + "/" + relative
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusMissing(path: path)
        }
        return Array(data)
    }

    struct CorpusMissing: Error, CustomStringConvertible {
        var path: String
        var description: String { "corpus file not found: \(path) (../shared must sit beside the repository)" }
    }
}
