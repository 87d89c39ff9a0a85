import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TickwireCore
@testable import TickwireServer

@Suite("Hostile requests over HTTP")
struct HostileHTTPTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    static let cases: [(name: String, uri: String, contentType: String, body: [UInt8], status: HTTPResponse.Status)] = [
        ("form body on a JSON channel", "/v1/webhooks/demo/open", "application/x-www-form-urlencoded", Array("a=1".utf8), .unsupportedMediaType),
        ("XML", "/v1/webhooks/demo/open", "text/xml", Array("<a/>".utf8), .unsupportedMediaType),
        ("invalid UTF-8", "/v1/webhooks/demo/open", "application/json", [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], .badRequest),
        ("deep nesting", "/v1/webhooks/demo/open", "application/json",
         Array((String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)).utf8), .badRequest),
        ("huge number", "/v1/webhooks/demo/open", "application/json", Array(#"{"type":"message-event","payload":{"id":1e999}}"#.utf8), .badRequest),
        ("truncated", "/v1/webhooks/demo/open", "application/json", Array(#"{"type":"message-event","payl"#.utf8), .badRequest),
        ("empty", "/v1/webhooks/demo/open", "application/json", [], .badRequest),
        ("numbers as strings and strings as numbers", "/v1/webhooks/demo/open", "application/json",
         Array(#"{"type":"message-event","timestamp":"soon","payload":{"id":12345,"gsId":true,"type":7,"payload":{"ts":"x"}}}"#.utf8), .ok),
        ("missing fields", "/v1/webhooks/demo/open", "application/json", Array(#"{"type":"message"}"#.utf8), .ok),
        // JSON that parses but is no object: not understood, kept as provider.unknown.
        ("a JSON array", "/v1/webhooks/demo/open", "application/json", Array(#"[{"type":"message-event"}]"#.utf8), .ok),
        ("a JSON string", "/v1/webhooks/demo/open", "application/json", Array(#""ping""#.utf8), .ok),
        ("path traversal in org", "/v1/webhooks/..%2F..%2Fetc/open", "application/json", Array("{}".utf8), .notFound),
        ("path traversal in channel", "/v1/webhooks/demo/..%2Fopen", "application/json", Array("{}".utf8), .notFound),
        ("NUL in channel", "/v1/webhooks/demo/open%00", "application/json", Array("{}".utf8), .notFound),
    ]

    @Test func eachHostileRequestGetsAClearAnswer() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        try await daemon.application().test(.live) { client in
            for item in Self.cases {
                let response = try await client.execute(
                    uri: item.uri, method: .post, headers: [.contentType: item.contentType], body: ByteBuffer(bytes: item.body))
                #expect(response.status == item.status, "\(item.name)")
                if response.status != .ok {
                    let error = try? JSONValue.parse(Array(buffer: response.body))["error"]
                    #expect(error?["code"]?.stringValue != nil, "\(item.name): JSON error body")
                }
            }
            // A client's long content type is not echoed whole into the answer (and the log).
            let longType = try await client.execute(
                uri: "/v1/webhooks/demo/open", method: .post, headers: [.contentType: "text/" + String(repeating: "x", count: 10_000)],
                body: ByteBuffer(string: "{}"))
            #expect(longType.status == .unsupportedMediaType && longType.body.readableBytes < 300)
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok, "still serving")
            // The unparsable bodies are kept for the operator; bytes that are not text come back as base64.
            let listed = try await client.execute(
                uri: "/v1/orgs/demo/quarantine?limit=1000", method: .get, headers: [.authorization: "Bearer \(TestDaemon.apiKey)"])
            let items = try JSONValue.parse(Array(buffer: listed.body))["quarantine"]?.arrayValue ?? []
            let invalid = Data([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D]).base64EncodedString()
            #expect(items.contains { $0["body_base64"]?.stringValue == invalid })
            #expect(items.contains { $0["body"] == #"{"type":"message-event","payl"# })
        }
        await daemon.close()
    }

    /// A body refused as unreadable is answered 400 only once it is kept for the operator:
    /// a 4xx is not retried, so one that cannot be kept is answered 503 (retried later).
    @Test func anUnreadableBodyThatCannotBeKeptIsAnswered503() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        try await DispatcherTests.refuseWrites(to: "quarantine", in: daemon.journal)
        try await daemon.application().test(.live) { client in
            let post = { try await client.execute(
                uri: "/v1/webhooks/demo/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{\"type\":")) }
            let refused = try await post()
            #expect(refused.status == .serviceUnavailable)
            #expect(try JSONValue.parse(Array(buffer: refused.body))["error"]?["code"] == "journal_unavailable")
            try await DispatcherTests.allowWrites(to: "quarantine", in: daemon.journal)
            #expect(try await post().status == .badRequest)
        }
        #expect(try await daemon.journal.quarantined(org: "demo", limit: 10).count == 1)
        await daemon.close()
    }

    @Test func aJournalThatCannotBeWrittenAnswers503AndNotReady() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let body = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        try await daemon.application().test(.live) { client in
            try await daemon.journal.close()
            let response = try await client.execute(
                uri: "/v1/webhooks/demo/open", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body))
            #expect(response.status == .serviceUnavailable)
            #expect(try JSONValue.parse(Array(buffer: response.body))["error"]?["code"] == "journal_unavailable")
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
        }
        // The sinks too (the journal is closed already).
        await daemon.close()
    }

    @Test func metricsCountRequestsWithoutURLTextAsLabels() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        let body = try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json")
        try await daemon.application().test(.live) { client in
            for uri in ["/v1/webhooks/demo/open", "/v1/webhooks/demo/open", "/v1/webhooks/evil%22%7D/x"] {
                _ = try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body))
            }
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains(#"tickwire_http_requests_total{org="demo",channel="open",code="200"} 2"#))
            #expect(text.contains(#"tickwire_http_requests_total{org="unknown",channel="unknown",code="404"} 1"#))
            // The same body twice is a provider's retry: answered 200 both times, journaled once.
            #expect(text.contains(#"tickwire_events_accepted_total{org="demo",type="message.sent"} 1"#))
            #expect(text.contains("tickwire_journal_commit_duration_seconds_bucket"))
            #expect(text.contains(#"tickwire_subscription_backlog_events{subscription="demo/archive",sink="archive"}"#))
            #expect(!text.contains("evil"))
            #expect(!text.contains(TestDaemon.token))
        }
        await daemon.close()
    }

    /// What no route takes gets the JSON error body every refusal has; a webhook URL asked
    /// with another method is a 405; health answers HEAD.
    @Test func unknownEndpointsAndMethodsGetJSONErrors() async throws {
        let daemon = try await TestDaemon.open(in: directory)
        try await daemon.application().test(.live) { client in
            for (uri, method, status, code) in [
                ("/nothing", HTTPRequest.Method.get, HTTPResponse.Status.notFound, "not_found"),
                ("/v1/webhooks/demo", .post, .notFound, "not_found"),
                ("/v1/webhooks/demo/gupshup", .put, .methodNotAllowed, "method_not_allowed"),
                ("/v1/webhooks/demo/gupshup", .delete, .methodNotAllowed, "method_not_allowed"),
            ] {
                let response = try await client.execute(uri: uri, method: method)
                #expect(response.status == status, "\(method) \(uri)")
                #expect(try JSONValue.parse(Array(buffer: response.body))["error"]?["code"]?.stringValue == code, "\(method) \(uri)")
            }
            #expect(try await client.execute(uri: "/healthz", method: .head).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .head).status == .ok)
        }
        await daemon.close()
    }

    /// With `server.metrics_token`, the figures of every org are for the operator only.
    @Test func aMetricsTokenKeepsTheFiguresToTheOperator() async throws {
        let token = "metrics-token-0123456789"
        let config = try TestDaemon.config(in: directory, server: "metrics_token: \"\(token)\"")
        let daemon = try await Daemon.open(config: config, logger: .quiet)
        try await daemon.application().test(.live) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer \(TestDaemon.apiKey)"], [.authorization: "Bearer \(token)x"]] {
                let refused = try await client.execute(uri: "/metrics", method: .get, headers: headers)
                #expect(refused.status == .unauthorized)
                #expect(!String(buffer: refused.body).contains("demo"))
            }
            let allowed = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(allowed.status == .ok)
            #expect(String(buffer: allowed.body).contains(#"subscription="demo/archive""#))
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok, "health stays open")
        }
        await daemon.close()
    }
}
