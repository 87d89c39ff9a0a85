import ArgumentParser
import Foundation
import TickwireCore
import TickwireServer

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Put a subscription's events back in its retry queue, to be delivered again.",
        discussion: """
            Works on the journal in storage.directory, with the daemon running or not (a running daemon \
            picks the events up within a second). Events still queued, or not delivered yet, are not queued \
            twice. The same is available over HTTP: POST /v1/orgs/ORG/subscriptions/NAME/replay.
            """)

    @OptionGroup var options: ConfigOption

    @Option(help: "The subscription, as ORG/NAME (NAME defaults to its sink's name).")
    var subscription: String

    @Option(help: "Only events received at or after this RFC 3339 time.", transform: ReplayCommand.time)
    var since: Date?

    @Option(help: "Only events received at or before this RFC 3339 time.", transform: ReplayCommand.time)
    var until: Date?

    @Flag(help: "Only the subscription's dead letters.")
    var deadOnly = false

    static func time(_ text: String) throws -> Date {
        guard let date = Timestamp.parse(text) else {
            throw ValidationError("\"\(text)\" is not \(Timestamp.inputForm)")
        }
        return date
    }

    func run() async throws {
        let config = try options.load()
        guard let target = config.subscriptions.first(where: { $0.id == subscription }) else {
            let known = config.subscriptions.map(\.id).joined(separator: ", ")
            FileHandle.standardError.write(Data("no subscription \"\(subscription)\" in \(options.config) (known: \(known))\n".utf8))
            throw ExitCode(1)
        }
        let replay = try Replay(since: since, until: until, deadOnly: deadOnly)
        // Opening would create an empty journal, and "0 events queued" would hide the mistake.
        guard FileManager.default.fileExists(atPath: config.storage.journalPath) else {
            FileHandle.standardError.write(Data(
                "no journal at \(config.storage.journalPath) (storage.directory is read from the current directory when relative)\n".utf8))
            throw ExitCode(1)
        }
        let journal = try SQLiteJournal(path: config.storage.journalPath, durability: config.storage.durability)
        let count: Int
        do {
            count = try await replay.run(journal: journal, subscription: target)
        } catch {
            try? await journal.close()
            throw error
        }
        try await journal.close()
        print("\(count) event(s) of \(target.id) queued for delivery")
    }
}
