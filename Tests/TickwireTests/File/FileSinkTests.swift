import Foundation
import Testing
import TickwireCore
@testable import TickwireSinks

@Suite("File sink")
struct FileSinkTests {
    @Test func pathTemplatesTakeOrgChannelAndDate() {
        let event = TestEvents.status(.read, message: "m1", org: "acme", channel: "gs", at: 1_700_000_000)
        #expect(FileSink.path(for: event, template: "data/{org}/{channel}/{date}.jsonl") == "data/acme/gs/2023-11-14.jsonl")
        #expect(FileSink.path(for: event, template: "data/events.jsonl") == "data/events.jsonl")
        #expect(FileSink.path(for: event, template: "data/{org}-{other}/{org}") == "data/acme-{other}/acme")
        #expect(FileSink.path(for: event, template: "data/{org") == "data/{org")
    }

    @Test func linesAreWrittenWholeAndInOrderAcrossConcurrentBatches() async throws {
        let directory = try TemporaryDirectory()
        let sink = FileSink(
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
            #expect(positions == Array(positions.first!..<positions.first! + batch.count))
        }
    }
}
