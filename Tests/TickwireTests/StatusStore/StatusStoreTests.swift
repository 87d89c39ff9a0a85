import Foundation
import GRDB
import Testing
import TickwireCore
import TickwireProviders
@testable import TickwireSinks

/// Gupshup callbacks for one outbound message, through the real adapter: the Gupshup id
/// comes on `enqueued` (with WhatsApp's id inside), WhatsApp's id on the later events.
enum GupshupSequence {
    static func body(_ type: String, gupshupID: String, whatsappID: String, ts: Int, org: String = "acme") -> [UInt8] {
        let payload: String
        switch type {
        case "enqueued":
            payload = #"{"id":"\#(gupshupID)","type":"enqueued","destination":"919876543210","payload":{"whatsappMessageId":"\#(whatsappID)","type":"session"}}"#
        case "failed":
            payload = #"{"id":"\#(whatsappID)","gsId":"\#(gupshupID)","type":"failed","destination":"919876543210","payload":{"code":131026,"reason":"Message undeliverable","ts":\#(ts)}}"#
        default:
            payload = #"{"id":"\#(whatsappID)","gsId":"\#(gupshupID)","type":"\#(type)","destination":"919876543210","payload":{"ts":\#(ts)}}"#
        }
        return Array(#"{"app":"Demo","timestamp":\#(ts)000,"version":2,"type":"message-event","payload":\#(payload)}"#.utf8)
    }

    static func events(_ types: [String], gupshupID: String = "gs-1", whatsappID: String = "wamid.1", org: String = "acme") throws -> [Event] {
        let adapter = GupshupAdapter(config: NoOptions())
        return try types.enumerated().flatMap { index, type in
            let request = WebhookRequest(
                method: .post, uri: "/", headers: ["content-type": "application/json"],
                body: body(type, gupshupID: gupshupID, whatsappID: whatsappID, ts: 1_700_000_000 + 10 * ladder(type)))
            return try adapter.normalize(request, channel: ChannelContext(org: org, channel: "gs", provider: "gupshup"))
        }
    }

    /// Provider times follow the real order, whatever order the callbacks arrive in.
    static func ladder(_ type: String) -> Int {
        ["enqueued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4][type] ?? 5
    }
}

@Suite("Message status store")
struct StatusStoreTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    var storePath: String { directory.path + "/store.sqlite" }

    func store() throws -> StatusStoreSink {
        try StatusStoreSink.open(path: storePath, durability: .full)
    }

    func statuses(_ document: JSONValue?) -> [String] {
        (document?["statuses"]?.arrayValue ?? []).map { item in
            (item["status"]?.stringValue ?? "") + (item["inferred"] == true ? "*" : "")
        }
    }

    /// What an older Tickwire left: the store's file with the schema up to `migration`,
    /// holding `events`. Returns the message ids it holds.
    @discardableResult
    func olderStore(upTo migration: String, holding events: [Event]) async throws -> [Int64] {
        let pool = try DatabasePool(path: storePath)
        try StatusStoreSchema.migrator.migrate(pool, upTo: migration)
        try await pool.write { db in for event in events { try StatusStoreWriter.apply(event, db: db) } }
        let ids = try await pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM messages ORDER BY id") }
        try pool.close()
        return ids
    }

    func deliver(_ store: StatusStoreSink, _ events: [Event]) async {
        let report = await store.deliver(events)
        #expect(report.outcomes.allSatisfy { $0 == .delivered })
    }

    @Test(arguments: 0..<6)
    func fullSequenceInAnyOrderWithDuplicates(seed: Int) async throws {
        var random = SeededRandom(seed: UInt64(seed))
        let events = try GupshupSequence.events(["enqueued", "sent", "delivered", "read"])
        let shuffled = (events + events.prefix(2)).shuffled(using: &random)
        let store = try store()
        // One at a time and in one batch must give the same result.
        for event in shuffled.prefix(3) { await deliver(store, [event]) }
        await deliver(store, Array(shuffled.dropFirst(3)))
        let byGupshup = try await store.message(org: "acme", id: "gs-1")
        #expect(byGupshup?["status"] == "read")
        #expect(statuses(byGupshup) == ["enqueued", "sent", "delivered", "read"], "each event once, in provider time")
        let byWhatsApp = try await store.message(org: "acme", id: "wamid.1")
        #expect(byWhatsApp == byGupshup, "every id finds the same message")
        #expect(byGupshup?["recipient"] == "+919876543210")
    }

    /// A `message.other` is a history line `other` with its native name, and never moves
    /// the message's status, even when that name is a status word (Meta's own API saying
    /// "enqueued", which only Gupshup's dialect maps). Lines written under the native name by
    /// an older Tickwire read `other` after the upgrade.
    @Test func otherEventsAreOtherLinesAndMoveNoStatus() async throws {
        func meta(_ status: String, at time: Int) throws -> [Event] {
            let item = #"{"id":"wamid.X","status":""# + status + #"","timestamp":""# + String(time) + #"","recipient_id":"15551234567"}"#
            let body = #"{"object":"whatsapp_business_account","entry":[{"id":"w","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":["# + item + "]}}]}]}"
            let request = WebhookRequest(method: .post, uri: "/", headers: ["content-type": "application/json"], body: Array(body.utf8))
            return try MetaAdapter(config: NoOptions()).normalize(request, channel: ChannelContext(org: "acme", channel: "meta", provider: "meta"))
        }
        let mismatch = try GupshupAdapter(config: NoOptions()).normalize(
            WebhookRequest(method: .post, uri: "/", headers: ["content-type": "application/json"], body: Array(
                #"{"app":"Demo","timestamp":1700000000000,"version":2,"type":"message-event","payload":{"id":"wamid.M","gsId":"gs-M","type":"mismatch","destination":"919876543210","payload":{"ts":1700000000}}}"#.utf8)),
            channel: ChannelContext(org: "acme", channel: "gs", provider: "gupshup"))
        #expect(mismatch.first?.type == .messageOther)
        try await olderStore(upTo: "v6-deleted-status", holding: mismatch)
        let store = try store()
        let upgraded = try await store.message(org: "acme", id: "gs-M")
        #expect(statuses(upgraded) == ["other"])
        #expect(upgraded?["statuses"]?[0]?["native"] == "mismatch")

        let enqueued = try meta("enqueued", at: 1_700_000_000)
        #expect(enqueued.first?.type == .messageOther)
        await deliver(store, enqueued)
        var document = try await store.message(org: "acme", id: "wamid.X")
        #expect(document?["status"] == .null, "message.other moves no status")
        #expect(statuses(document) == ["other"])
        #expect(document?["statuses"]?[0]?["native"] == "enqueued")
        await deliver(store, try meta("sent", at: 1_700_000_010))
        document = try await store.message(org: "acme", id: "wamid.X")
        #expect(document?["status"] == "sent")
        #expect(statuses(document) == ["other", "sent"])
    }

    /// A provider time far ahead (a clock or parsing bug) does not hold the message's
    /// `updated_at` there: listed by time it stays within an hour of when it was received,
    /// so later changes still show in a listing of now. The history keeps the time as told.
    /// An event the store refuses for good (here a trigger; a constraint or a value it cannot
    /// hold in real life) goes to the dead letters alone: retried in place for ever, it held
    /// back every event of its subscription after it.
    @Test func anEventTheStoreRefusesForGoodDoesNotHoldTheOthersBack() async throws {
        let store = try store()
        let pool = try DatabasePool(path: storePath)
        try await pool.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse BEFORE INSERT ON message_ids WHEN NEW.alias = 'bad'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """)
        }
        try pool.close()
        let batch = ["good-1", "bad", "good-2"].map { TestEvents.status(.sent, message: $0) }
        let report = await store.deliver(batch)
        #expect(report.outcomes.map { if case .reject = $0 { "reject" } else { "\($0)" } } == ["delivered", "reject", "delivered"])
        let reader = try DatabasePool(path: storePath)
        let kept = try await reader.read { db in try String.fetchAll(db, sql: "SELECT alias FROM message_ids ORDER BY alias") }
        #expect(kept == ["good-1", "good-2"])
        try reader.close()
        await store.shutdown()
    }

    /// SQLite goes on writing to a store file deleted or replaced while open, where
    /// nothing reads it any more: deliveries are retried instead (the events wait in the
    /// journal for the restart that opens the file at the path), and go on if it comes back.
    @Test func aStoreFileDeletedOrReplacedWhileOpenIsNotWrittenTo() async throws {
        let store = try store()
        let events = try GupshupSequence.events(["enqueued", "sent", "delivered"])
        #expect(await store.deliver([events[0]]).outcomes == [.delivered])
        let moved = storePath + ".moved"
        try FileManager.default.moveItem(atPath: storePath, toPath: moved)
        let report = await store.deliver([events[1]])
        guard case .retry(let reason, _) = report.outcomes.first else {
            Issue.record("\(report.outcomes)")
            return
        }
        #expect(reason.contains("deleted or replaced while open"), "\(reason)")
        // Another file at the path (a backup restored by copying it there) is not the one open.
        try FileManager.default.copyItem(atPath: moved, toPath: storePath)
        #expect(await store.deliver([events[1]]).outcomes.first != .delivered)
        try FileManager.default.removeItem(atPath: storePath)
        // The file open, back at its path: written again.
        try FileManager.default.moveItem(atPath: moved, toPath: storePath)
        #expect(await store.deliver([events[1], events[2]]).outcomes == [.delivered, .delivered])
        #expect(statuses(try await store.message(org: "acme", id: "wamid.1")) == ["enqueued", "sent", "delivered"])
        await store.shutdown()
    }

    @Test func aTimeFarAheadDoesNotTakeTheMessageOutOfListings() async throws {
        func event(_ status: MessageStatus, at time: Double, received: Double) -> Event {
            var event = TestEvents.status(status, message: "ahead", at: time)
            event.data["received_at"] = .string(Timestamp.format(Date(timeIntervalSince1970: received)))
            return event
        }
        // What an older version left: a message listed in 2100. The upgrade caps it.
        try await olderStore(upTo: "v7-other-history-lines", holding: [event(.read, at: 1_700_000_000, received: 1_700_000_000)])
        let older = try DatabasePool(path: storePath)
        try await older.write { db in try db.execute(sql: "UPDATE messages SET updated_at = 4102444800") }
        try older.close()
        let store = try store()
        await deliver(store, [event(.sent, at: 4_102_444_800, received: 1_700_000_000)])  // 2100-01-01
        await deliver(store, [event(.delivered, at: 1_700_000_010, received: 1_700_000_010)])
        let listed = try await store.messages(
            org: "acme", status: nil, since: Date(timeIntervalSince1970: 1_699_999_000),
            until: Date(timeIntervalSince1970: 1_700_010_000), limit: 10, after: nil)
        #expect(listed.messages.map { $0["id"] } == ["ahead"])
        #expect(listed.messages.first?["updated_at"] == "2023-11-14T23:13:20.000Z", "received + 1h")
        #expect(statuses(listed.messages.first) == ["read", "delivered", "sent"], "the history keeps the times as told")
        await store.shutdown()
    }

    @Test func readBeforeDeliveredInfersDeliveredAndALateDeliveredReplacesIt() async throws {
        let store = try store()
        await deliver(store, try GupshupSequence.events(["sent", "read"]))
        var document = try await store.message(org: "acme", id: "gs-1")
        #expect(document?["status"] == "read")
        #expect(statuses(document) == ["sent", "delivered*", "read"])
        await deliver(store, try GupshupSequence.events(["delivered"]))
        document = try await store.message(org: "acme", id: "wamid.1")
        #expect(document?["status"] == "read", "a late delivered does not lower read")
        #expect(statuses(document) == ["sent", "delivered", "read"])
    }

    @Test func failedAfterDeliveredIsKeptButDoesNotLower() async throws {
        let store = try store()
        await deliver(store, try GupshupSequence.events(["sent", "delivered"]))
        await deliver(store, try GupshupSequence.events(["failed"]))
        let document = try await store.message(org: "acme", id: "gs-1")
        #expect(document?["status"] == "delivered")
        #expect(statuses(document) == ["sent", "delivered", "failed"])
        #expect(document?["error"] == .null, "the message did not fail: its failure is history")
    }

    @Test func aDeliveredAfterAFailureClearsTheShownError() async throws {
        let store = try store()
        await deliver(store, try GupshupSequence.events(["failed"]))
        #expect(try await store.message(org: "acme", id: "wamid.1")?["error"]?["code"] == "131026")
        await deliver(store, try GupshupSequence.events(["delivered"]))
        let document = try await store.message(org: "acme", id: "wamid.1")
        #expect(document?["status"] == "delivered")
        #expect(document?["error"] == .null)
    }

    /// Two reports of one failure, one with Gupshup's code and one without: the document
    /// shows the code whichever came last.
    @Test(arguments: [false, true])
    func aFailureReportWithACodeIsNotHiddenByOneWithout(codeFirst: Bool) async throws {
        let store = try store()
        let reports = try ["glific_message_event_failed_1002_number_not_on_whatsapp", "glific_message_event_failed_no_code"].map { name in
            try GupshupAdapter(config: NoOptions()).normalize(
                WebhookRequest(method: .post, uri: "/", headers: ["content-type": "application/json"], body: try ProviderCorpus.body("gupshup", name)),
                channel: ChannelContext(org: "acme", channel: "gs", provider: "gupshup"))
        }
        await deliver(store, codeFirst ? reports[0] : reports[1])
        await deliver(store, codeFirst ? reports[1] : reports[0])
        let document = try await store.message(org: "acme", id: "gBEGkZkXRDmUAgl5FpzpjNgI5Co")
        #expect(document?["status"] == "failed")
        #expect(document?["error"]?["code"] == "1002")
    }

    /// The same when the two reports reached two records that a later event merges.
    @Test func aMergeKeepsTheFailureCode() async throws {
        let store = try store()
        var withoutCode = TestEvents.status(.failed, message: "m-x", at: 1_700_000_010)
        withoutCode.data["error"] = ["code": .null, "title": "failed"]
        var withCode = TestEvents.status(.failed, message: "m-y", at: 1_700_000_011)
        withCode.data["error"] = ["code": "1002", "title": "not on WhatsApp"]
        var linking = TestEvents.status(.sent, message: "m-x", at: 1_700_000_000)
        linking.data["provider_message_ids"] = ["m-x", "m-y"]
        await deliver(store, [withoutCode])
        await deliver(store, [withCode])
        await deliver(store, [linking])
        let document = try await store.message(org: "acme", id: "m-y")
        #expect(document?["provider_message_ids"] == ["m-x", "m-y"], "merged")
        #expect(document?["error"]?["code"] == "1002")
    }

    @Test func failedBeforeDeliveryIsTerminalWithItsError() async throws {
        let store = try store()
        await deliver(store, try GupshupSequence.events(["enqueued", "failed", "sent"]))
        let document = try await store.message(org: "acme", id: "wamid.1")
        #expect(document?["status"] == "failed")
        #expect(document?["error"]?["code"] == "131026")
    }

    @Test func recordsCreatedApartAreMergedWhenAnEventLinksThem() async throws {
        let store = try store()
        // `sent` (WhatsApp id + gsId) first, then a DLR carrying only the WhatsApp id... no:
        // a status that only knows the WhatsApp id, then `enqueued` that links both.
        var lateDLR = try GupshupSequence.events(["delivered"]).first!
        lateDLR.data["provider_message_ids"] = ["wamid.1"]
        lateDLR.data["message_id"] = "wamid.1"
        lateDLR.subject = "wamid.1"
        var onlyGupshup = try GupshupSequence.events(["sent"]).first!
        onlyGupshup.data["provider_message_ids"] = ["gs-1"]
        onlyGupshup.data["message_id"] = "gs-1"
        onlyGupshup.subject = "gs-1"
        await deliver(store, [lateDLR, onlyGupshup])
        #expect(try await store.message(org: "acme", id: "gs-1")?["status"] == "sent", "two records so far")
        await deliver(store, try GupshupSequence.events(["enqueued"]))
        let merged = try await store.message(org: "acme", id: "gs-1")
        #expect(merged?["status"] == "delivered")
        #expect(statuses(merged) == ["enqueued", "sent", "delivered"])
        #expect(try await store.message(org: "acme", id: "wamid.1") == merged)
        let count = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") }
        #expect(count == 1)
    }

    /// The document's id is the one the event linking a message's ids names first
    /// (Gupshup's, which its API answers with), whichever event came first: a DLR with only
    /// WhatsApp's id first made WhatsApp's the id, and a lookup of `gs-1` matched no `id`.
    @Test(arguments: [false, true])
    func theDocumentIDDoesNotDependOnArrivalOrder(dlrFirst: Bool) async throws {
        let store = try store()
        var dlr = try GupshupSequence.events(["delivered"]).first!
        dlr.data["provider_message_ids"] = ["wamid.1"]
        dlr.data["message_id"] = "wamid.1"
        dlr.subject = "wamid.1"
        let enqueued = try GupshupSequence.events(["enqueued"])
        await deliver(store, dlrFirst ? [dlr] + enqueued : enqueued + [dlr])
        #expect(try await store.message(org: "acme", id: "wamid.1")?["id"] == "gs-1")
        #expect(try await store.message(org: "acme", id: "gs-1")?["status"] == "delivered")
    }

    /// Two records that each inferred a `delivered` from their `read` keep one once merged.
    @Test func aMergeKeepsOneInferredDelivered() async throws {
        let store = try store()
        func only(_ id: String, _ type: String) throws -> Event {
            var event = try GupshupSequence.events([type]).first!
            event.data["provider_message_ids"] = [.string(id)]
            event.data["message_id"] = .string(id)
            event.subject = id
            return event
        }
        await deliver(store, [try only("wamid.1", "read"), try only("gs-1", "read")])
        #expect(statuses(try await store.message(org: "acme", id: "gs-1")) == ["delivered*", "read"], "two records so far")
        await deliver(store, try GupshupSequence.events(["enqueued"]))
        let merged = try await store.message(org: "acme", id: "wamid.1")
        #expect(merged?["status"] == "read")
        #expect(statuses(merged).filter { $0 == "delivered*" }.count == 1)
    }

    /// A deletion is the user's: a message first seen through its deletion came in.
    @Test func aMessageFirstSeenDeletedIsInbound() async throws {
        let store = try store()
        let body = try RepositoryFiles.corpusFile("meta/pywa_message_revoke.json")
        let events = try MetaAdapter(config: NoOptions()).normalize(
            WebhookRequest(method: .post, uri: "/", headers: [:], body: body), channel: ChannelContext(org: "acme", channel: "meta", provider: "meta"))
        #expect(events.map(\.type) == [.messageDeleted])
        await deliver(store, events)
        let document = try await store.message(org: "acme", id: "<ORIGINAL_WHATSAPP_MESSAGE_ID>")
        #expect(document?["direction"] == "inbound")
        // "What happened to it?": deleted, and listed as such.
        #expect(document?["status"] == "deleted")
        let listed = try await store.messages(org: "acme", status: "deleted", since: nil, until: nil, limit: 10, after: nil)
        #expect(listed.messages.map { $0["id"] } == [document?["id"]])
    }

    /// A store written before deletions were a status gets them at its migration.
    @Test func deletedMessagesStoredBeforeVersion6StandDeleted() async throws {
        let body = try RepositoryFiles.corpusFile("meta/pywa_message_revoke.json")
        let events = try MetaAdapter(config: NoOptions()).normalize(
            WebhookRequest(method: .post, uri: "/", headers: [:], body: body), channel: ChannelContext(org: "acme", channel: "meta", provider: "meta"))
        try await olderStore(upTo: "v5-messages-by-time", holding: events + (try GupshupSequence.events(["sent"])))
        // What the writer of that version stored for it.
        let pool = try DatabasePool(path: storePath)
        try await pool.write { db in try db.execute(sql: "UPDATE messages SET status = NULL WHERE direction = 'inbound'") }
        try pool.close()
        let store = try store()
        #expect(try await store.message(org: "acme", id: "<ORIGINAL_WHATSAPP_MESSAGE_ID>")?["status"] == "deleted")
        #expect(try await store.message(org: "acme", id: "gs-1")?["status"] == "sent")
    }

    /// The same reports through two channels of one org (a number moving from one
    /// provider account to another) are two events each, one line each in the history.
    @Test func theSameReportThroughTwoChannelsIsOneLine() async throws {
        let store = try store()
        let viaGS = try GupshupSequence.events(["enqueued", "sent", "read"])
        let viaGS2 = try ["sent", "read"].flatMap { type in
            try GupshupAdapter(config: NoOptions()).normalize(
                WebhookRequest(
                    method: .post, uri: "/", headers: ["content-type": "application/json"],
                    body: GupshupSequence.body(type, gupshupID: "gs-1", whatsappID: "wamid.1", ts: 1_700_000_000 + 10 * GupshupSequence.ladder(type))),
                channel: ChannelContext(org: "acme", channel: "gs2", provider: "gupshup"))
        }
        #expect(Set(viaGS.map(\.id)).isDisjoint(with: viaGS2.map(\.id)), "two channels, two events")
        await deliver(store, viaGS + viaGS2)
        let document = try await store.message(org: "acme", id: "wamid.1")
        #expect(statuses(document) == ["enqueued", "sent", "delivered*", "read"])
    }

    @Test func orgsAreIsolated() async throws {
        let store = try store()
        await deliver(store, try GupshupSequence.events(["sent"], org: "acme"))
        await deliver(store, try GupshupSequence.events(["read"], org: "other"))
        #expect(try await store.message(org: "acme", id: "gs-1")?["status"] == "sent")
        #expect(try await store.message(org: "other", id: "gs-1")?["status"] == "read")
        #expect(try await store.message(org: "third", id: "gs-1") == nil)
    }

    @Test func inboundMessagesAreStoredToo() async throws {
        let store = try store()
        let body = try RepositoryFiles.corpusFile("gupshup/jaimey_inbound_text.json")
        let events = try GupshupAdapter(config: NoOptions()).normalize(
            WebhookRequest(method: .post, uri: "/", headers: [:], body: body), channel: ChannelContext(org: "acme", channel: "gs", provider: "gupshup"))
        await deliver(store, events)
        let id = try #require(events.first?.data["message_id"]?.stringValue)
        let document = try await store.message(org: "acme", id: id)
        #expect(document?["direction"] == "inbound")
        #expect(document?["sender"]?.stringValue?.hasPrefix("+") == true)
    }

    /// A reference id is the client's text and may name any number of messages (a
    /// campaign tag): a lookup answers at most its limit of documents, and says so.
    @Test func aLookupByReferenceIsBounded() async throws {
        let store = try store()
        for n in 0..<5 {
            var event = try GupshupSequence.events(["sent"], gupshupID: "gs-\(n)", whatsappID: "wamid.\(n)")[0]
            event.data["reference_id"] = "campaign-7"
            await deliver(store, [event])
        }
        let cut = try await store.messages(org: "acme", ids: ["campaign-7", "other"], byReference: true, limit: 3)
        #expect(cut.found.compactMap { $0["id"]?.stringValue } == ["gs-0", "gs-1", "gs-2"])
        #expect(cut.truncated)
        #expect(cut.notFound == ["other"])
        let whole = try await store.messages(org: "acme", ids: ["campaign-7"], byReference: true, limit: 5)
        #expect(whole.found.count == 5 && !whole.truncated)
        let byID = try await store.messages(org: "acme", ids: ["gs-0", "gs-1", "wamid.2"], byReference: false, limit: 2)
        #expect(byID.found.count == 2 && byID.truncated)
        // Two ids of one message: one document.
        let twice = try await store.messages(org: "acme", ids: ["gs-1", "wamid.1"], byReference: false)
        #expect(twice.found.compactMap { $0["id"]?.stringValue } == ["gs-1"] && twice.notFound.isEmpty)
    }

    @Test func batchLookupsPaginationAndDurability() async throws {
        let store = try store()
        #expect(try await store.synchronousMode() == 2)
        for n in 0..<5 {
            await deliver(store, try GupshupSequence.events(n % 2 == 0 ? ["enqueued", "failed"] : ["sent"], gupshupID: "gs-\(n)", whatsappID: "wamid.\(n)"))
        }
        let batch = try await store.messages(org: "acme", ids: ["gs-0", "wamid.1", "nope"], byReference: false)
        #expect(batch.found.count == 2)
        #expect(batch.notFound == ["nope"])
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await store.messages(org: "acme", status: "failed", since: nil, until: nil, limit: 2, after: cursor)
            seen += page.messages.compactMap { $0["id"]?.stringValue }
            cursor = page.next
        } while cursor != nil
        #expect(Set(seen) == ["gs-0", "gs-2", "gs-4"])
        #expect(seen.count == 3)
        await store.shutdown()
        let reopened = try self.store()
        #expect(try await reopened.message(org: "acme", id: "wamid.3")?["status"] == "sent")
    }

    /// A listing cursor is sealed: it does not show the row id (counted over every org in
    /// the store, it told an org how many messages the others had), it cannot be forged or
    /// used for another org, and it still works after the store is reopened.
    @Test func listingCursorsAreSealedPerOrgAndStore() async throws {
        let store = try store()
        for n in 0..<3 {
            await deliver(store, try GupshupSequence.events(["sent"], gupshupID: "gs-\(n)", whatsappID: "wamid.\(n)"))
        }
        let first = try await store.messages(org: "acme", status: nil, since: nil, until: nil, limit: 1, after: nil)
        let cursor = try #require(first.next)
        let position = try #require(store.position(of: cursor, org: "acme"))
        #expect(position.1 == 1, "the position is the first message's row")
        let decoded = Data(base64Encoded: cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            + String(repeating: "=", count: (4 - cursor.count % 4) % 4)) ?? Data()
        #expect(!decoded.isEmpty && !String(decoding: decoded, as: UTF8.self).contains(":1"), "no readable row id")
        #expect(store.position(of: cursor, org: "other") == nil, "another org's cursor")
        var tampered = Array(cursor)
        tampered[10] = tampered[10] == "A" ? "B" : "A"
        #expect(store.position(of: String(tampered), org: "acme") == nil)
        #expect(store.position(of: Data("\(Double(5).bitPattern):1".utf8).base64EncodedString(), org: "acme") == nil, "the old, readable form")
        await store.shutdown()
        let reopened = try self.store()
        let second = try await reopened.messages(org: "acme", status: nil, since: nil, until: nil, limit: 1, after: cursor)
        #expect(second.messages.first?["id"] != first.messages.first?["id"] && second.messages.count == 1)
        await reopened.shutdown()
        // Another store's cursor (a store made anew) is not one of this store's.
        try FileManager.default.removeItem(atPath: storePath)
        let fresh = try self.store()
        #expect(fresh.position(of: cursor, org: "acme") == nil)
        await fresh.shutdown()
    }

    /// A store written with the first schema is migrated in place: same documents, same
    /// duplicate refusal, and history rows unique per message from then on.
    @Test func historyMigrationKeepsRowsAndDeduplication() async throws {
        let before = try GupshupSequence.events(["enqueued", "sent", "read"], gupshupID: "gs-1", whatsappID: "wamid.1")
        try await olderStore(upTo: "v1", holding: before)
        let store = try store()
        let document = try await store.message(org: "acme", id: "gs-1")
        #expect(statuses(document) == ["enqueued", "sent", "delivered*", "read"])
        await deliver(store, before)
        #expect(try await store.message(org: "acme", id: "wamid.1") == document, "duplicates change nothing")
        await deliver(store, try GupshupSequence.events(["delivered"], gupshupID: "gs-1", whatsappID: "wamid.1"))
        #expect(statuses(try await store.message(org: "acme", id: "gs-1")) == ["enqueued", "sent", "delivered", "read"])
        let unique = try await store.pool.read { db in
            try db.indexes(on: "history").filter(\.isUnique).map(\.columns)
        }
        #expect(unique == [["message", "event_id", "status"]])
        await store.shutdown()
    }

    /// Stores written with the v2 schema (AUTOINCREMENT ids, a second history index) keep
    /// their ids, documents and merges; new messages get fresh ids after the old ones.
    @Test func rowidMigrationKeepsIdsAndDocuments() async throws {
        // Two records created apart (one id each), merged by `enqueued`, which names both.
        func only(_ id: String, _ type: String) throws -> Event {
            var event = try GupshupSequence.events([type], gupshupID: "gs-m", whatsappID: "wamid.m")[0]
            event.data["provider_message_ids"] = [.string(id)]
            event.data["message_id"] = .string(id)
            event.subject = id
            return event
        }
        let events = try [only("wamid.m", "read"), only("gs-m", "sent")]
            + GupshupSequence.events(["enqueued"], gupshupID: "gs-m", whatsappID: "wamid.m")
            + GupshupSequence.events(["enqueued", "failed"], gupshupID: "gs-f", whatsappID: "wamid.f")
        let idsBefore = try await olderStore(upTo: "v2-history-unique-per-message", holding: events)
        let store = try store()
        #expect(statuses(try await store.message(org: "acme", id: "wamid.m")) == ["enqueued", "sent", "delivered*", "read"])
        #expect(try await store.message(org: "acme", id: "gs-f")?["status"] == "failed")
        let (ids, schema, historyIndexes) = try await store.pool.read { db in
            (
                try Int64.fetchAll(db, sql: "SELECT id FROM messages ORDER BY id"),
                try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE name IN ('messages', 'history')"),
                try db.indexes(on: "history").map(\.columns)
            )
        }
        #expect(ids == idsBefore)
        #expect(schema.count == 2 && schema.allSatisfy { !$0.contains("AUTOINCREMENT") })
        #expect(historyIndexes == [["message", "event_id", "status"]])
        await deliver(store, try GupshupSequence.events(["sent"], gupshupID: "gs-new", whatsappID: "wamid.new"))
        let newID = try await store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM messages") }
        #expect((newID ?? 0) > (idsBefore.max() ?? 0))
        #expect(try await store.message(org: "acme", id: "wamid.new")?["status"] == "sent")
        let violations = try store.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        #expect(violations.isEmpty)
        await store.shutdown()
    }

    /// Stores written with the v3 schema get a reference index without the NULL entries
    /// of messages that have no reference id; lookups by reference id still find them.
    @Test func partialReferenceIndexMigrationKeepsLookups() async throws {
        var referenced = try GupshupSequence.events(["sent"], gupshupID: "gs-r", whatsappID: "wamid.r")[0]
        referenced.data["reference_id"] = "order-1"
        let first = [referenced] + (try GupshupSequence.events(["sent"], gupshupID: "gs-p", whatsappID: "wamid.p"))
        try await olderStore(upTo: "v3-rowids", holding: first)
        let store = try store()
        var later = try GupshupSequence.events(["sent"], gupshupID: "gs-n", whatsappID: "wamid.n")[0]
        later.data["reference_id"] = "order-1"
        await deliver(store, [later])
        let found = try await store.messages(org: "acme", ids: ["order-1", "order-2"], byReference: true)
        #expect(found.found.map { $0["id"]?.stringValue } == ["gs-r", "gs-n"])
        #expect(found.notFound == ["order-2"])
        let (entries, definition) = try await store.pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages INDEXED BY messages_reference WHERE org = 'acme' AND reference_id IS NOT NULL"),
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'messages_reference'")
            )
        }
        #expect(entries == 2)
        #expect(definition?.hasSuffix("WHERE reference_id IS NOT NULL") == true)
        // The org API's lookup by reference id still searches the index, not the table.
        let plan = try await store.pool.read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN " + StatusStoreSchema.messagesByReference,
                arguments: ["acme", "order-1"]
            ).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING COVERING INDEX messages_reference") }, "\(plan)")
        await store.shutdown()
    }

    /// Listing by time reads an index in its order, with a status or without one: never a
    /// sort of all of the org's messages for each page.
    @Test func listingsReadAnIndexInOrder() async throws {
        let store = try store()
        let position: (Double, Int64) = (0, 0)
        for status in [nil, "failed"] as [String?] {
            let (sql, arguments) = StatusStoreSink.messagesQuery(
                org: "acme", status: status, since: Date(timeIntervalSince1970: 1), until: nil, limit: 50, after: position)
            let plan = try await store.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "status \(status ?? "none"): \(plan)")
            #expect(plan.contains { $0.contains(status == nil ? "messages_updated" : "messages_status") }, "\(plan)")
        }
        await store.shutdown()
    }
}
