import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TickwireCore
@testable import TickwireServer

@Suite("Webhook ingress over HTTP")
struct WebhookIngressTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    func post(_ client: some TestClientProtocol, _ uri: String, _ body: [UInt8], headers: HTTPFields = json) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }

    func archived() -> [JSONValue] {
        directory.lines("out/demo/events.jsonl").compactMap { try? JSONValue.parse($0) }
    }

    @Test func deliveredEventIsJournaledAnsweredAndArchivedOnce() async throws {
        let log = LogRecorder()
        let daemon = try await TestDaemon.open(in: directory, logger: log.logger())
        let body = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_delivered.json")
        let other = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_read.json")
        try await daemon.application().test(.live) { client in
            let first = try await post(client, "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", body)
            #expect(first.status == .ok)
            let answer = try JSONValue.parse(Array(buffer: first.body))
            #expect(answer["accepted"] == 1)
            let id = try #require(answer["ids"]?[0]?.stringValue)

            let again = try await post(client, "/v1/webhooks/demo/gupshup", body, headers: [.contentType: "application/json", .authorization: "Bearer \(TestDaemon.token)"])
            #expect(again.status == .ok)
            #expect(try JSONValue.parse(Array(buffer: again.body))["ids"]?[0]?.stringValue == id, "a retry gets the same id")

            let read = try await post(client, "/v1/webhooks/demo/gupshup?token=\(TestDaemon.token)", other)
            #expect(read.status == .ok)
            let readID = try #require(JSONValue.parse(Array(buffer: read.body))["ids"]?[0]?.stringValue)
            // The line after the first is the read's: a duplicate line would come before it.
            #expect(await eventually { archived().count >= 2 })
            let lines = archived()
            #expect(lines.map { $0["id"]?.stringValue } == [id, readID], "the duplicate POST adds no line")
            try #require(lines.count == 2)
            let event = lines[0]
            #expect(event["specversion"] == "1.0")
            #expect(event["id"]?.stringValue == id)
            #expect(event["type"] == "message.delivered")
            #expect(event["source"] == "/orgs/demo/channels/gupshup")
            let ids = event["data"]?["provider_message_ids"]?.arrayValue ?? []
            #expect(ids.contains("gBEGkYaYVSEEAgnZxQ3JmKK6Wvg") && ids.contains("ee4a68a0-1203-4c85-8dc3-49d0b3226a35"))
            // Each accepted request is logged at debug with its event ids, the repost too.
            let accepted = log.records.filter { $0.message == "webhook accepted" }
            #expect(accepted.count == 3)
            #expect(accepted.first?.level == .debug)
            #expect(accepted.first?.metadata["event_id"] == id)
            #expect(accepted.first?.metadata["org"] == "demo" && accepted.first?.metadata["channel"] == "gupshup")
            #expect(!log.text.contains(TestDaemon.token))
        }
        #expect(try await daemon.journal.count() == 2)
        await daemon.close()
    }

    @Test func refusalsAnswerWithAJSONErrorAndStoreNothing() async throws {
        let log = LogRecorder()
        let daemon = try await TestDaemon.open(in: directory, logger: log.logger(level: .info))
        let body = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_delivered.json")
        let token = "?token=\(TestDaemon.token)"
        try await daemon.application().test(.live) { client in
            let cases: [(String, [UInt8], HTTPFields, HTTPResponse.Status, String)] = [
                ("/v1/webhooks/demo/gupshup?token=wrong", body, Self.json, .unauthorized, "unauthorized"),
                ("/v1/webhooks/demo/gupshup", body, Self.json, .unauthorized, "unauthorized"),
                ("/v1/webhooks/nobody/gupshup\(token)", body, Self.json, .notFound, "not_found"),
                ("/v1/webhooks/demo/nothing\(token)", body, Self.json, .notFound, "not_found"),
                ("/v1/webhooks/demo/gupshup\(token)", Array("{\"type\": ".utf8), Self.json, .badRequest, "invalid_body"),
                ("/v1/webhooks/demo/gupshup\(token)", Array(repeating: 0x20, count: 70_000), Self.json, .contentTooLarge, "body_too_large"),
                ("/v1/webhooks/demo/gupshup\(token)", body, [.contentType: "text/csv"], .unsupportedMediaType, "unsupported_media_type"),
            ]
            for (uri, body, headers, status, code) in cases {
                let response = try await post(client, uri, body, headers: headers)
                #expect(response.status == status, "\(uri)")
                let error = try JSONValue.parse(Array(buffer: response.body))["error"]
                #expect(error?["code"]?.stringValue == code, "\(uri)")
                #expect(error?["message"]?.stringValue?.isEmpty == false)
                #expect(!String(buffer: response.body).contains(TestDaemon.token))
            }
            // Every refusal is logged once, with its code, at info (400: warning, it is quarantined).
            let refusals = log.records.filter { $0.message == "webhook refused" || $0.message == "webhook body refused" }
            #expect(refusals.map { $0.metadata["code"] ?? "" } == cases.map(\.4))
            #expect(refusals.allSatisfy { $0.level == ($0.metadata["code"] == "invalid_body" ? .warning : .info) })
            try #require(refusals.count == cases.count)
            #expect(refusals[2].metadata["org"] == "nobody" && refusals[2].metadata["channel"] == "gupshup")
            #expect(!log.text.contains(TestDaemon.token) && !log.text.contains("token="))
        }
        #expect(try await daemon.journal.count() == 0)
        let quarantined = try await daemon.journal.quarantined()
        #expect(quarantined.count == 1, "only the authenticated, unparsable body is quarantined")
        #expect(quarantined.first.map { String(decoding: $0.body, as: UTF8.self) } == "{\"type\": ")
        // The operator reads it with the org's key, and only the org's own.
        try await daemon.application().test(.live) { client in
            let listed = try await client.execute(
                uri: "/v1/orgs/demo/quarantine", method: .get, headers: [.authorization: "Bearer \(TestDaemon.apiKey)"])
            let item = try JSONValue.parse(Array(buffer: listed.body))["quarantine"]?[0]
            #expect(item?["body"] == "{\"type\": ")
            #expect(item?["channel"] == "gupshup")
            #expect(item?["reason"]?.stringValue?.isEmpty == false)
            #expect(try await client.execute(uri: "/v1/orgs/demo/quarantine", method: .get).status == .unauthorized)
        }
        await daemon.close()
    }

    @Test func healthAndReadiness() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        try await daemon.application().test(.live) { client in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            let get = try await client.execute(uri: "/v1/webhooks/demo/gupshup", method: .get)
            #expect(get.status == .methodNotAllowed)
        }
        await daemon.close()
    }
}
