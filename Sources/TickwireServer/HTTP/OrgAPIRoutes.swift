import Foundation
import Hummingbird
import Logging
import TickwireCore
import TickwireSinks

/// The org API: "what happened to message X?" (DESIGN §4), read from the org's status store;
/// and each subscription's dead letters, retry queue and replay.
///
/// Every request needs `Authorization: Bearer <key>` with one of the org's `api_keys`; a
/// missing key, a wrong key and another org's key all get the same 401, so that nobody
/// learns whether an org or a message exists.
struct OrgAPIRoutes: Sendable {
    let gateway: Gateway
    let logger: Logger
    /// The status store an org's subscriptions write to, if any.
    /// The org's status store; nil when it has none, a 503 when it has one not open yet.
    let store: @Sendable (_ org: OrgConfig) throws(WebhookRejection) -> StatusStoreSink?

    static let maxIDs = 100

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v1/orgs/:org/messages/:id") { request, context in
            await answer {
                let (org, store) = try authorize(request, context)
                _ = try QueryParameters(request).only([])
                // Path parameters arrive as sent: clients encode ids (wamids end in "=").
                guard let id = (context.parameters.get("id") ?? "").removingPercentEncoding else {
                    throw WebhookRejection.badRequest("the message id is not valid percent-encoded UTF-8", code: "invalid_path")
                }
                guard let document = try await store.message(org: org.name, id: id) else {
                    throw WebhookRejection.notFound("no message with id \"\(WebhookIngest.printable(id))\"")
                }
                return document
            }
        }
        router.get("/v1/orgs/:org/messages") { request, context in
            await answer {
                let (org, store) = try authorize(request, context)
                let query = QueryParameters(request)
                // A lookup takes its list alone (`ids` and `reference_ids` together is refused).
                if let lookup = ["ids", "reference_ids"].first(where: { query[$0] != nil }), let ids = try query.only([lookup]).list(lookup) {
                    let result = try await store.messages(org: org.name, ids: try Self.idList(ids), byReference: lookup == "reference_ids")
                    var answer: JSONObject = ["messages": .array(result.found), "not_found": .array(result.notFound.map(JSONValue.string))]
                    if result.truncated { answer["truncated"] = true }
                    return .object(answer)
                }
                let listing = ["status", "since", "until", "limit", "cursor"]
                return try await list(
                    store: store, org: org.name,
                    query: query.only(listing, takes: "ids, or reference_ids, or any of " + listing.joined(separator: ", ")))
            }
        }
    }

    /// Dead letters, the retry queue with each event's attempts, and replay (the endpoint
    /// behind `tickwire replay`). Items carry their event id, not their journal sequence:
    /// one counter for every org, whose gaps told an org how many events the others got.
    func registerDeliveryRoutes(on router: Router<BasicRequestContext>) {
        router.get("/v1/orgs/:org/subscriptions/:name/dead-letters") { request, context in
            await answer {
                let subscription = try authorizeSubscription(request, context)
                let limit = try QueryParameters(request).only(["limit"]).limit()
                let letters = try await gateway.journal.deadLetters(subscription: subscription.id, limit: limit)
                return [
                    "dead_letters": .array(letters.map { letter in
                        [
                            "event_id": .string(letter.eventID),
                            "attempts": .int(Int64(letter.attempts)), "reason": .string(letter.reason),
                            "failed_at": .string(Timestamp.format(letter.failedAt)),
                        ]
                    })
                ]
            }
        }
        router.get("/v1/orgs/:org/subscriptions/:name/queue") { request, context in
            await answer {
                let subscription = try authorizeSubscription(request, context)
                let queued = try await gateway.journal.queued(subscription: subscription.id, limit: try QueryParameters(request).only(["limit"]).limit())
                return [
                    "queue": .array(queued.map { row in
                        [
                            "event_id": .string(row.eventID),
                            "type": .string(row.type), "key": .string(row.key),
                            "attempts": .int(Int64(row.attempts)),
                            "first_attempt_at": row.firstAttemptAt.map { .string(Timestamp.format($0)) } ?? .null,
                            "next_attempt_at": .string(Timestamp.format(row.nextAttemptAt)),
                            "last_error": JSONValue(row.lastError),
                        ]
                    })
                ]
            }
        }
        router.post("/v1/orgs/:org/subscriptions/:name/replay") { request, context in
            await answer {
                let subscription = try authorizeSubscription(request, context)
                let query = try QueryParameters(request).only(["since", "until", "dead_only"])
                let deadOnly: Bool
                switch query["dead_only"] {
                case nil, "false", "0": deadOnly = false
                case "true", "1", "": deadOnly = true
                default: throw WebhookRejection.badRequest("dead_only must be true or false", code: "invalid_query")
                }
                let replay: Replay
                do {
                    replay = try Replay(since: try query.date("since"), until: try query.date("until"), deadOnly: deadOnly)
                } catch let error as Replay.InvalidRange {
                    throw WebhookRejection.badRequest(error.description, code: "invalid_query")
                }
                let count = try await replay.run(journal: gateway.journal, subscription: subscription)
                return ["subscription": .string(subscription.id), "requeued": .int(Int64(count))]
            }
        }
    }

    /// Bodies the org's providers sent that could not be parsed (kept after authentication).
    func registerQuarantineRoute(on router: Router<BasicRequestContext>) {
        router.get("/v1/orgs/:org/quarantine") { request, context in
            await answer {
                let org = try authorizeOrg(request, context)
                let bodies = try await gateway.journal.quarantined(org: org.name, limit: try QueryParameters(request).only(["limit"]).limit())
                return [
                    "quarantine": .array(bodies.map { item in
                        var entry: JSONObject = [
                            "channel": .string(item.channel), "reason": .string(item.reason),
                            "content_type": JSONValue(item.contentType), "received_at": .string(Timestamp.format(item.receivedAt)),
                        ]
                        // Text as text; anything else (invalid UTF-8 was a reason to refuse it) as base64.
                        if let text = String(validating: item.body, as: UTF8.self) {
                            entry["body"] = .string(text)
                        } else {
                            entry["body_base64"] = .string(Data(item.body).base64EncodedString())
                        }
                        return .object(entry)
                    })
                ]
            }
        }
    }

    private func list(store: StatusStoreSink, org: String, query: QueryParameters) async throws -> JSONValue {
        let limit = try query.limit()
        let cursor = query["cursor"]
        if let cursor, store.position(of: cursor, org: org) == nil {
            throw WebhookRejection.badRequest("cursor is not one this API returned", code: "invalid_query")
        }
        let status = query["status"]
        if let status, MessageStatus(rawValue: status) == nil {
            throw WebhookRejection.badRequest(
                "status must be one of \(MessageStatus.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_query")
        }
        let since = try query.date("since"), until = try query.date("until")
        if let since, let until, since >= until {
            throw WebhookRejection.badRequest("since must be before until", code: "invalid_query")
        }
        let page = try await store.messages(org: org, status: status, since: since, until: until, limit: limit, after: cursor)
        return ["messages": .array(page.messages), "next_cursor": JSONValue(page.next)]
    }

    static func idList(_ ids: [String]) throws(WebhookRejection) -> [String] {
        guard !ids.isEmpty, ids.count <= maxIDs else {
            throw .badRequest("give 1 to \(maxIDs) comma-separated ids", code: "invalid_query")
        }
        return ids
    }

    private func authorize(_ request: Request, _ context: BasicRequestContext) throws(WebhookRejection) -> (OrgConfig, StatusStoreSink) {
        let org = try authorizeOrg(request, context)
        guard let store = try store(org) else {
            throw .notFound("org \"\(org.name)\" has no status store: subscribe a sink of type sqlite")
        }
        return (org, store)
    }

    private func authorizeSubscription(_ request: Request, _ context: BasicRequestContext) throws(WebhookRejection) -> Subscription {
        let org = try authorizeOrg(request, context)
        let name = context.parameters.get("name") ?? ""
        guard let subscription = org.subscriptions.first(where: { $0.name == name }) else {
            throw .notFound("org \"\(org.name)\" has no subscription \"\(WebhookIngest.printable(name))\"")
        }
        return subscription
    }

    private func authorizeOrg(_ request: Request, _ context: BasicRequestContext) throws(WebhookRejection) -> OrgConfig {
        let presented = request.bearerToken
        let org = gateway.config.orgs[context.parameters.get("org") ?? ""]
        // Compare against every key of the org (constant time each) even after a match.
        let matches = (org?.apiKeys ?? []).reduce(false) { found, key in
            ConstantTime.equals(key, presented ?? "") || found
        }
        guard let org, presented != nil, matches else { throw .unauthorized("a valid API key of this org is needed") }
        return org
    }

    private func answer(_ work: () async throws -> JSONValue) async -> Response {
        do {
            return respond(.json(try await work()))
        } catch let rejection as WebhookRejection {
            return respond(rejection.response)
        } catch {
            // The client learns only that it may retry; the operator needs the cause.
            logger.warning("org API request failed", metadata: ["error": "\(error)"])
            return respond(WebhookRejection(status: 503, code: "store_unavailable", message: "the store cannot be read now").response)
        }
    }
}
