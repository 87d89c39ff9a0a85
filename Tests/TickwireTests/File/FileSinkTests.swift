import Foundation
import NIOPosix
import Testing
import TickwireCore
@testable import TickwireSinks

@Suite("File sink")
struct FileSinkTests {
    @Test func pathTemplatesTakeOrgChannelAndDate() throws {
        let event = TestEvents.status(.read, message: "m1", org: "acme", channel: "gs", at: 1_700_000_000)
        #expect(try FilePathTemplate("data/{org}/{channel}/{date}.jsonl").path(for: event) == "data/acme/gs/2023-11-14.jsonl")
        #expect(try FilePathTemplate("data/events.jsonl").path(for: event) == "data/events.jsonl")
        #expect(try FilePathTemplate("{org}").path(for: event) == "acme")
        for bad in ["data/{org}-{other}/{org}", "data/{org", "data/org}", "data/{}"] {
            #expect(throws: ConfigIssue.self, "\(bad)") { try FilePathTemplate(bad) }
        }
    }

    @Test func eventsShareAFileExactlyWhenTheirPathsAreEqual() throws {
        let template = try FilePathTemplate("{org}/{date}.jsonl")
        let events = [
            TestEvents.status(.read, message: "a", org: "acme", channel: "gs", at: 1_700_000_000),
            TestEvents.status(.read, message: "b", org: "acme", channel: "meta", at: 1_700_006_000),  // same day, other channel
            TestEvents.status(.read, message: "c", org: "acme", channel: "gs", at: 1_700_006_400 + 86_400),  // next day
            TestEvents.status(.read, message: "d", org: "globex", channel: "gs", at: 1_700_000_000),
            TestEvents.status(.read, message: "e", org: "acme", channel: "gs", at: -1),  // 1969-12-31
            TestEvents.status(.read, message: "f", org: "acme", channel: "gs", at: 0),
            TestEvents.status(.read, message: "g", org: "acme", channel: "gs", at: 86_399.9996),  // rounds to the next day
            TestEvents.status(.read, message: "h", org: "acme", channel: "gs", at: 86_400),
        ]
        for first in events {
            for second in events {
                let samePath = template.path(for: first) == template.path(for: second)
                #expect((template.key(for: first) == template.key(for: second)) == samePath, "\(first.subject ?? "") \(second.subject ?? "")")
            }
        }
    }

    @Test func aBatchForManyFilesWritesEachEventToItsOwn() async throws {
        let directory = try TemporaryDirectory()
        let sink = try FileSink(
            config: FileSinkConfig(path: directory.path + "/{org}/{channel}.jsonl"),
            context: SinkContext(name: "archive", durability: .normal, logger: .quiet))
        let batch = ["acme/gs", "acme/gs", "globex/gs", "acme/meta", "acme/gs", "globex/gs"].enumerated().map { i, file in
            let parts = file.split(separator: "/").map(String.init)
            return TestEvents.status(.sent, message: "m\(i)", org: parts[0], channel: parts[1])
        }
        #expect(await sink.deliver(batch).outcomes.allSatisfy { $0 == .delivered })
        await sink.shutdown()
        for file in ["acme/gs", "globex/gs", "acme/meta"] {
            let lines = try String(contentsOfFile: "\(directory.path)/\(file).jsonl", encoding: .utf8).split(separator: "\n")
            let expected = batch.filter { "\($0.org)/\($0.channel)" == file }.map(\.id)
            #expect(try lines.map { try Event(cloudEventJSON: Array($0.utf8)).id } == expected, "\(file)")
        }
    }

    @Test func linesAreWrittenWholeAndInOrderAcrossConcurrentBatches() async throws {
        let directory = try TemporaryDirectory()
        let sink = try FileSink(
            config: FileSinkConfig(path: directory.path + "/{org}/events.jsonl"),
            context: SinkContext(name: "archive", durability: .full, logger: .quiet))
        let batches = (0..<8).map { batch in (0..<50).map { TestEvents.status(.sent, message: "m\(batch)-\($0)") } }
        await withTaskGroup(of: DeliveryReport.self) { group in
            for batch in batches { group.addTask { await sink.deliver(batch) } }
            for await report in group { #expect(report.outcomes.allSatisfy { $0 == .delivered }) }
        }
        await sink.shutdown()
        let lines = try String(contentsOfFile: directory.path + "/acme/events.jsonl", encoding: .utf8).split(separator: "\n")
        let ids = try lines.map { try Event(cloudEventJSON: Array($0.utf8)).id }
        #expect(Set(ids) == Set(batches.joined().map(\.id)) && ids.count == 400, "every line whole, none lost or twice")
        // A batch's lines stay together and in order, whichever batch went first.
        for batch in batches {
            let positions = batch.compactMap { event in ids.firstIndex(of: event.id) }
            #expect(positions == positions.first.map { Array($0..<$0 + batch.count) })
        }
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// A file sink writes on a thread of its own: with NIO's shared blocking pool taken up
    /// (here by work that waits; in production another sink's disk hanging an fsync), it
    /// still writes and confirms its batches.
    @Test(.timeLimit(.minutes(1)))
    func aSinkDoesNotWaitForTheSharedBlockingPool() async throws {
        let directory = try TemporaryDirectory()
        let sink = try FileSink(
            config: FileSinkConfig(path: directory.path + "/events.jsonl"), context: SinkContext(name: "archive", durability: .full, logger: .quiet))
        let release = DispatchSemaphore(value: 0)
        let occupied = (0..<NIOThreadPool.singleton.numberOfThreads).map { _ in
            Task { try await NIOThreadPool.singleton.runIfActive { release.wait() } }
        }
        try await Task.sleep(for: .milliseconds(100))
        let delivered = await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await sink.deliver([TestEvents.status(.sent, message: "m")]).outcomes == [.delivered] }
            group.addTask {
                // Then the pool is let go, or a sink waiting for it would never return.
                try? await Task.sleep(for: .seconds(10))
                for _ in occupied { release.signal() }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(delivered == true, "delivered while the shared pool was busy")
        for _ in occupied { release.signal() }
        for task in occupied { _ = try? await task.value }
        await sink.shutdown()
    }

    /// logrotate moves the file away (or removes it): the next batch goes to a new file at
    /// the path, not to the moved one, whose lines nobody may read again.
    @Test func aRotatedFileIsFollowedToTheNewOne() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/events.jsonl"
        let sink = try FileSink(config: FileSinkConfig(path: path), context: SinkContext(name: "archive", durability: .full, logger: .quiet))
        #expect(await sink.deliver([TestEvents.status(.sent, message: "before")]).outcomes == [.delivered])
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        #expect(await sink.deliver([TestEvents.status(.sent, message: "after-move")]).outcomes == [.delivered])
        #expect(try Self.lines(path + ".1").count == 1)
        #expect(try Self.lines(path).map { try Event(cloudEventJSON: Array($0.utf8)).subject } == ["after-move"])
        try FileManager.default.removeItem(atPath: path)
        #expect(await sink.deliver([TestEvents.status(.sent, message: "after-remove")]).outcomes == [.delivered])
        #expect(try Self.lines(path).count == 1)
        await sink.shutdown()
    }

    /// copytruncate empties the file in place: lines go on at its new end, with no hole of
    /// NUL bytes where the old end was.
    @Test func aTruncatedFileIsAppendedToAtItsNewEnd() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/events.jsonl"
        let sink = try FileSink(config: FileSinkConfig(path: path), context: SinkContext(name: "archive", durability: .normal, logger: .quiet))
        #expect(await sink.deliver((0..<5).map { TestEvents.status(.sent, message: "m\($0)") }).outcomes.count == 5)
        #expect(truncate(path, 0) == 0)
        #expect(await sink.deliver([TestEvents.status(.sent, message: "later")]).outcomes == [.delivered])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(!bytes.contains(0))
        #expect(try Self.lines(path).count == 1)
        await sink.shutdown()
    }

    /// A file left ending mid-line (a crash during a write) gets a line break before the
    /// next line, which so stays whole (the batch is delivered again from the cursor).
    @Test func aHalfLineLeftByACrashDoesNotSpoilTheNextLine() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("events.jsonl", #"{"id":"whole"}"# + "\n" + #"{"id":"ha"#)
        let sink = try FileSink(config: FileSinkConfig(path: path), context: SinkContext(name: "archive", durability: .normal, logger: .quiet))
        #expect(await sink.deliver([TestEvents.status(.sent, message: "again")]).outcomes == [.delivered])
        await sink.shutdown()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count == 3)
        #expect(lines.first == #"{"id":"whole"}"# && lines[1] == #"{"id":"ha"#)
        #expect(try Event(cloudEventJSON: Data(lines[2].utf8)).subject == "again")
    }

    /// Two sinks whose paths meet in one file (a plugins.d sink and a templated one) add to
    /// it; neither writes over the other's lines.
    @Test func twoSinksOnOneFileBothAppend() async throws {
        let directory = try TemporaryDirectory()
        let context = SinkContext(name: "archive", durability: .normal, logger: .quiet)
        let first = try FileSink(config: FileSinkConfig(path: directory.path + "/{org}.jsonl"), context: context)
        let second = try FileSink(config: FileSinkConfig(path: directory.path + "/acme.jsonl"), context: context)
        for round in 0..<5 {
            _ = await first.deliver([TestEvents.status(.sent, message: "a\(round)", org: "acme")])
            _ = await second.deliver([TestEvents.status(.sent, message: "b\(round)", org: "acme")])
        }
        #expect(try Self.lines(directory.path + "/acme.jsonl").count == 10)
        await first.shutdown()
        await second.shutdown()
    }

    /// More files than stay open at once: each still gets its lines, in order.
    @Test func moreFilesThanStayOpenEachGetTheirLines() async throws {
        let directory = try TemporaryDirectory()
        let sink = try FileSink(
            config: FileSinkConfig(path: directory.path + "/{org}.jsonl"), context: SinkContext(name: "archive", durability: .full, logger: .quiet))
        let orgs = (0..<100).map { "org\($0)" }
        for round in 0..<3 {
            let report = await sink.deliver(orgs.map { TestEvents.status(.sent, message: "r\(round)", org: $0) })
            #expect(report.outcomes.allSatisfy { $0 == .delivered })
        }
        for org in orgs {
            #expect(try Self.lines("\(directory.path)/\(org).jsonl").map { try Event(cloudEventJSON: Array($0.utf8)).subject } == ["r0", "r1", "r2"])
        }
        await sink.shutdown()
    }

    /// A failure names what failed and why, as the system said it.
    @Test func aFileThatCannotBeWrittenIsRetriedWithTheReason() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/taken.jsonl", withIntermediateDirectories: true)
        let sink = try FileSink(
            config: FileSinkConfig(path: directory.path + "/taken.jsonl"), context: SinkContext(name: "archive", durability: .normal, logger: .quiet))
        let report = await sink.deliver([TestEvents.status(.sent, message: "m")])
        guard case .retry(let reason, _) = report.outcomes.first else {
            Issue.record("expected a retry, got \(report.outcomes)")
            return
        }
        #expect(reason.contains("taken.jsonl") && reason.contains("directory"), "\(reason)")
        await sink.shutdown()
    }
}
