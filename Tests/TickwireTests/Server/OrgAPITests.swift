import Foundation
import Logging
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import NIOCore
import Testing
import TickwireCore

@testable import TickwireServer

@Suite("Org API over HTTP")
struct OrgAPITests {
    let directory: TemporaryDirectory
    static let otherKey = "other-api-key-0123456789"

    init() throws {
        directory = try TemporaryDirectory()
    }

    func daemon() async throws -> Daemon {
        _ = try TestDaemon.config(
            in: directory, extraSinks: ["store: { type: sqlite, path: \"\(directory.path)/data/store.sqlite\" }"],
            extra: """
                  other:
                    api_keys: [ "\(Self.otherKey)" ]
                    channels: { gs: { provider: gupshup, auth: { type: none } } }
                    subscriptions: [ { sink: store } ]
                  nostore:
                    api_keys: [ "nostore-api-key-0123456789" ]
                """)
        // demo gets a store subscription and a Meta channel too.
        var yaml = try String(contentsOfFile: directory.path + "/config.yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "      - { sink: archive }", with: "      - { sink: archive }\n      - { sink: store }")
        yaml = yaml.replacingOccurrences(
            of: "      open: { provider: gupshup, auth: { type: none } }",
            with: "      open: { provider: gupshup, auth: { type: none } }\n      meta: { provider: meta, auth: { type: none } }")
        try yaml.write(toFile: directory.path + "/config.yaml", atomically: true, encoding: .utf8)
        let loaded = try ConfigLoader(registry: .standard, environment: [:]).load(path: directory.path + "/config.yaml")
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await Daemon.open(config: loaded, logger: logger)
    }

    func post(_ client: some TestClientProtocol, _ uri: String, _ body: [UInt8]) async throws {
        let response = try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body))
        #expect(response.status == .ok)
    }

    func get(_ client: some TestClientProtocol, _ uri: String, key: String? = TestDaemon.apiKey) async throws -> (HTTPResponse.Status, JSONValue?) {
        var headers: HTTPFields = [:]
        if let key { headers[.authorization] = "Bearer \(key)" }
        let response = try await client.execute(uri: uri, method: .get, headers: headers)
        return (response.status, try? JSONValue.parse(Array(buffer: response.body)))
    }

    /// The daemon of `daemon()`, its status store's file 8 KiB of junk; and that file's path.
    func daemonWithAStoreThatIsNotADatabase() async throws -> (Daemon, String) {
        let storePath = directory.path + "/data/store.sqlite"
        try FileManager.default.createDirectory(atPath: directory.path + "/data", withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: storePath))
        return (try await daemon(), storePath)
    }

    /// A store that cannot be opened at start (here a file that is not a database) does not
    /// stop the daemon: webhooks are accepted, other sinks are not held up, the org API
    /// answers 503 for the store, and once the file is fixed a delivery opens it and what
    /// waited in the journal arrives.
    @Test func aStoreThatCannotBeOpenedAtStartDoesNotStopTheDaemon() async throws {
        let (daemon, storePath) = try await daemonWithAStoreThatIsNotADatabase()
        try await daemon.application().test(.live) { client in
            try await post(client, "/v1/webhooks/demo/open", try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json"))
            #expect(await eventually { directory.lines("out/demo/events.jsonl").count == 1 }, "the file sink is not held up")
            let unopened = try await get(client, "/v1/orgs/demo/messages/gBEGkYaYVSEEAgnZxQ3JmKK6Wvg")
            #expect(unopened.0 == .serviceUnavailable && unopened.1?["error"]?["code"] == "store_unavailable")
            let metrics = { String(buffer: try await client.execute(uri: "/metrics", method: .get).body) }
            #expect(try await metrics().contains(#"tickwire_sink_unopened{sink="store"} 1"#))
            #expect(try await !metrics().contains(#"tickwire_sink_unopened{sink="archive"}"#), "only sinks that could not be opened")
            try FileManager.default.removeItem(atPath: storePath)
            var answer = unopened
            // Attempts wait 10 s after a failure, and the dispatcher's backoff grows meanwhile.
            #expect(await eventually(timeout: .seconds(90)) {
                answer = (try? await get(client, "/v1/orgs/demo/messages/gBEGkYaYVSEEAgnZxQ3JmKK6Wvg")) ?? answer
                return answer.0 == .ok
            })
            #expect(answer.1?["status"] == "sent")
            #expect(try await metrics().contains(#"tickwire_sink_unopened{sink="store"} 0"#))
            // An org without a store still gets 404, not 503.
            #expect(try await get(client, "/v1/orgs/nostore/messages/x", key: "nostore-api-key-0123456789").0 == .notFound)
        }
        await daemon.close()
    }

    /// With nothing to deliver no delivery opens the store: the org API tries it too.
    @Test func theOrgAPIOpensAStoreThatCouldNotBeOpenedAtStart() async throws {
        let (daemon, storePath) = try await daemonWithAStoreThatIsNotADatabase()
        try await daemon.application().test(.live) { client in
            #expect(try await get(client, "/v1/orgs/demo/messages/unknown").0 == .serviceUnavailable)
            try FileManager.default.removeItem(atPath: storePath)
            // Open, and the message unknown: 404.
            #expect(await eventually(timeout: .seconds(45)) {
                (try? await get(client, "/v1/orgs/demo/messages/unknown"))?.0 == .notFound
            })
        }
        await daemon.close()
    }

    @Test func answersByEveryIdAndReferenceAndKeepsOrgsApart() async throws {
        let daemon = try await daemon()
        try await daemon.application().test(.live) { client in
            for name in ["jaimey_message_event_enqueued", "glific_message_event_enqueued_ts_as_string", "jaimey_message_event_sent"] {
                try await post(client, "/v1/webhooks/demo/open", try RepositoryFiles.corpusFile("gupshup/\(name).json"))
            }
            // pywa_status_sent is the same notification as the tracker one (same id, status and
            // time): it is recognised as a duplicate and stored once.
            for name in ["pywa_status_with_tracker", "pywa_status_read", "pywa_status_sent"] {
                try await post(client, "/v1/webhooks/demo/meta", try RepositoryFiles.corpusFile("meta/\(name).json"))
            }
            try await post(client, "/v1/webhooks/other/gs", try RepositoryFiles.corpusFile("gupshup/jaimey_message_event_sent.json"))

            // Gupshup: the enqueued event links Gupshup's id and WhatsApp's id.
            var answer = (HTTPResponse.Status.notFound, JSONValue?.none)
            #expect(await eventually {
                answer = (try? await get(client, "/v1/orgs/demo/messages/59f8db90-c37e-4408-90ab-cc54ef8246ad")) ?? answer
                return answer.0 == .ok
            })
            #expect(answer.1?["status"] == "enqueued")
            let (status, byWhatsApp) = try await get(client, "/v1/orgs/demo/messages/gBEGkYaYVSEEAgkD7bRi9syGnBk")
            #expect(status == .ok)
            #expect(byWhatsApp == answer.1)

            // Meta: read, with an inferred delivered, found by wamid and by reference id.
            #expect(await eventually { (try? await get(client, "/v1/orgs/demo/messages/wamid.xyzxyz"))?.1?["status"] == "read" })
            // An id in the path is percent-decoded, as clients encode it (wamids end in "=").
            #expect(try await get(client, "/v1/orgs/demo/messages/wamid%2Exyzxyz").1?["id"] == "wamid.xyzxyz")
            #expect(try await get(client, "/v1/orgs/demo/messages/wamid%E0").0 == .badRequest)
            var byReference: JSONValue?
            #expect(await eventually {
                byReference = (try? await get(client, "/v1/orgs/demo/messages?reference_ids=some%20data,unknown-ref"))?.1
                return byReference?["not_found"] == ["unknown-ref"]
            })
            #expect(byReference?["messages"]?[0]?["id"] == "wamid.xyzxyz")
            #expect(byReference?["not_found"] == ["unknown-ref"])
            let (_, batch) = try await get(client, "/v1/orgs/demo/messages?ids=wamid.xyzxyz,gBEGkYaYVSEEAgkD7bRi9syGnBk,nope")
            #expect(batch?["messages"]?.arrayValue?.count == 2)
            let (_, listed) = try await get(client, "/v1/orgs/demo/messages?status=read&limit=10")
            #expect(listed?["messages"]?.arrayValue?.count == 1)

            // Isolation: the other org's key reads its own message, never demo's.
            let sentID = "gBEGkYaYVSEEAgnZxQ3JmKK6Wvg"
            #expect(await eventually { (try? await get(client, "/v1/orgs/other/messages/\(sentID)", key: Self.otherKey))?.0 == .ok })
            #expect(try await get(client, "/v1/orgs/demo/messages/wamid.xyzxyz", key: Self.otherKey).0 == .unauthorized)
            #expect(try await get(client, "/v1/orgs/other/messages/wamid.xyzxyz", key: Self.otherKey).0 == .notFound)
            #expect(try await get(client, "/v1/orgs/demo/messages/wamid.xyzxyz", key: nil).0 == .unauthorized)
            #expect(try await get(client, "/v1/orgs/demo/messages/wamid.xyzxyz", key: "wrong-key-0123456789").0 == .unauthorized)
            #expect(try await get(client, "/v1/orgs/ghost/messages/x").0 == .unauthorized, "an unknown org looks like a wrong key")
            #expect(try await get(client, "/v1/orgs/nostore/messages/x", key: "nostore-api-key-0123456789").0 == .notFound)
            #expect(try await get(client, "/v1/orgs/demo/messages?ids=" + (0..<101).map(String.init).joined(separator: ",")).0 == .badRequest)
            #expect(try await get(client, "/v1/orgs/demo/messages?cursor=garbage").0 == .badRequest)
            #expect(try await get(client, "/v1/orgs/demo/messages?status=lost").0 == .badRequest)
            // What the API would not use is refused, not ignored: answering the org's first
            // page to a misspelt lookup looks like a match.
            for query in [
                "reference_id=some%20data", "ids=wamid.xyzxyz&reference_ids=some%20data", "ids=a&ids=b", "ids=a&limit=5",
                "status=read&status=sent", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
                "cursor=" + Data("\(Double(5).bitPattern):1".utf8).base64EncodedString(),
            ] {
                let (status, body) = try await get(client, "/v1/orgs/demo/messages?" + query)
                #expect(status == .badRequest && body?["error"]?["code"] == "invalid_query", "\(query)")
            }
            #expect(try await get(client, "/v1/orgs/demo/messages/wamid.xyzxyz?verbose=1").0 == .badRequest)
            // The answer names what was meant.
            let misspelt = try await get(client, "/v1/orgs/demo/messages?reference_id=r1").1?["error"]?["message"]?.stringValue ?? ""
            #expect(misspelt.contains(#""reference_id""#) && misspelt.contains("reference_ids"), "\(misspelt)")
        }
        await daemon.close()
    }

    /// Lists are split before their items are decoded: a reference id with a comma in it
    /// (the client's own text) is sent as `%2C` and looked up whole.
    @Test func idListsAreSplitBeforeTheirItemsAreDecoded() throws {
        let query = QueryParameters(URI("/v1/orgs/demo/messages?reference_ids=order%2C42,%20b%20c%20,,wamid.x%3D"))
        #expect(try query.list("reference_ids") == ["order,42", "b c", "wamid.x="])
        #expect(try query.list("ids") == nil)
        #expect(throws: WebhookRejection.self) { try QueryParameters(URI("/m?ids=a%E0")).list("ids") }
    }
}
