import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Meta adapter")
    struct MetaAdapterTests {
        let adapter = MetaAdapter(config: NoOptions())
        let channel = Golden.channel("meta")

        func normalize(_ body: [UInt8]) throws -> [Event] {
            try adapter.normalize(Golden.request(body: body), channel: channel)
        }

        func normalize(_ text: String) throws -> [Event] { try normalize(Array(text.utf8)) }

        @Test func corpusMatchesGoldenFiles() throws {
            try Golden.checkCorpus("meta") { try normalize($0) }
        }

        static func envelope(field: String, value: String, time: Int = 1_700_000_000) -> String {
            #"{"object":"whatsapp_business_account","entry":[{"id":"waba-1","time":"# + String(time)
                + #","changes":[{"field":""# + field + #"","value":"# + value + "}]}]}"
        }

        /// A revoke without an id of its own is known by the original message and its
        /// content, as before the content rule moved into `identifyByContent` (eae9c89): its
        /// id did not change, so a retry across the upgrade is still one event.
        @Test func aRevokeWithoutItsOwnIDKeepsItsID() throws {
            let item = #"{"from":"15551234567","timestamp":"1697043223","type":"revoke","revoke":{"original_message_id":"wamid.ORIGINAL"}}"#
            let body = Self.envelope(field: "messages", value: #"{"messaging_product":"whatsapp","messages":["# + item + "]}")
            let event = try #require(try normalize(body).first)
            #expect(event.type == .messageDeleted)
            #expect(event.id == EventID.make([
                "acme", "meta", "meta", "message.deleted", "wamid.ORIGINAL", "revoke", "2023-10-11T16:53:43.000Z",
                try JSONValue.parse(Array(item.utf8)).serializedString(),
            ]))
        }

        /// A failure carries `data.error` whether or not Meta said why, as every other
        /// provider's does; a status that did not fail carries none.
        @Test func aFailureWithoutErrorsStillSaysItFailed() throws {
            func status(_ name: String, errors: String = "") throws -> JSONValue? {
                let item = #"{"id":"wamid.X","status":""# + name + #"","timestamp":"1700000000","recipient_id":"15551234567""# + errors + "}"
                let body = Self.envelope(field: "messages", value: #"{"messaging_product":"whatsapp","statuses":["# + item + "]}")
                return try normalize(body).first?.data["error"]
            }
            #expect(try status("failed") == .object(["code": .null, "title": "failed", "detail": .null]))
            #expect(try status("failed", errors: #","errors":[{"code":131026,"title":"Message undeliverable"}]"#)?["code"] == "131026")
            #expect(try status("delivered") == nil)
        }

        @Test func batchesGiveOneEventPerItemWithItsOwnRaw() throws {
            let events = try normalize(try ProviderCorpus.body("meta", "connectors_mixed_messages_and_statuses_batch"))
            #expect(events.count == 3)
            for event in events {
                let value = event.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]
                let items = (value?["messages"]?.arrayValue ?? []) + (value?["statuses"]?.arrayValue ?? [])
                #expect(items.count == 1)
                #expect(items.first?["id"]?.stringValue == event.data["message_id"]?.stringValue)
            }
            // The same message twice in one POST is one event.
            #expect(try normalize(try ProviderCorpus.body("meta", "courier_duplicate")).count == 1)
        }

        /// Each item's raw keeps Meta's own members and its own contact, nothing shared by the
        /// whole batch: a large member beside 25 000 items was stored (and serialized on the
        /// event loop) once per item, gigabytes from one 4 MiB body.
        @Test func aBatchStoresAboutItsOwnSizeNotItsSizeTimesItsItems() throws {
            let pad = String(repeating: "p", count: 200_000)
            let count = 50
            let contacts = (0..<count).map { #"{"wa_id":"9198\#($0)","profile":{"name":"U\#($0)"}}"# }.joined(separator: ",")
            let messages = (0..<count).map {
                #"{"from":"9198\#($0)","id":"wamid.pad\#($0)","timestamp":"1700000000","type":"text","text":{"body":"hi"}}"#
            }.joined(separator: ",")
            let body = #"{"object":"whatsapp_business_account","pad":""# + pad + #"","entry":[{"id":"waba-1","pad":""# + pad
                + #"","changes":[{"field":"messages","pad":""# + pad + #"","value":{"messaging_product":"whatsapp","pad":""# + pad
                + #"","metadata":{"display_phone_number":"15550001","phone_number_id":"pn-1"},"contacts":["# + contacts
                + #"],"messages":["# + messages + "]}}]}]}"
            let events = try normalize(body)
            // The value's member no item carries is kept once, in an event of its own.
            #expect(events.count == count + 1)
            let left = events.last?.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]
            #expect(events.last?.type == .providerUnknown && left?["pad"]?.stringValue == pad && left?["messages"] == nil)
            let stored = events.reduce(0) { $0 + $1.cloudEventBytes.count }
            #expect(stored < body.utf8.count, "\(stored) bytes stored for a \(body.utf8.count)-byte body")
            for (n, event) in events.prefix(count).enumerated() {
                let value = event.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]
                #expect(value?["contacts"]?.arrayValue?.map { $0["wa_id"]?.stringValue } == ["9198\(n)"])
                #expect(value?["metadata"]?["phone_number_id"] == "pn-1")
                #expect(value?["messages"]?.arrayValue?.count == 1)
            }
        }

        /// Business-scoped users may have no phone: their contact is found by `user_id`, so
        /// each of two such users in one batch gets its own name and contact.
        @Test func contactsOfUsersWithoutAPhoneAreMatchedByUserID() throws {
            let contacts = (1...2).map { #"{"profile":{"name":"User \#($0)"},"user_id":"US.\#($0)"}"# }.joined(separator: ",")
            let messages = [2, 1].map {
                #"{"from_user_id":"US.\#($0)","id":"wamid.bs\#($0)","timestamp":"1700000000","type":"text","text":{"body":"hi"}}"#
            }.joined(separator: ",")
            let events = try normalize(Self.envelope(
                field: "messages",
                value: #"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"pn-1"},"contacts":["# + contacts
                    + #"],"messages":["# + messages + "]}"))
            #expect(events.map { $0.data["sender_name"]?.stringValue } == ["User 2", "User 1"])
            #expect(events.map { $0.data["sender_user_id"]?.stringValue } == ["US.2", "US.1"])
            for (event, user) in zip(events, ["US.2", "US.1"]) {
                let kept = event.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]?["contacts"]?.arrayValue
                #expect(kept?.map { $0["user_id"]?.stringValue } == [user])
            }
        }

        /// An item's raw and name take only its own user's contact: the only contact of a
        /// batch is another user's when it names someone else; one that names nobody is the
        /// item's.
        @Test func anItemTakesOnlyItsOwnUsersContact() throws {
            let batch = try normalize(Self.envelope(
                field: "messages",
                value: #"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"pn-1"},"contacts":[{"wa_id":"15550001","profile":{"name":"A"}}],"#
                    + #""messages":[{"from":"15550001","id":"wamid.a","timestamp":"1700000000","type":"text","text":{"body":"hi"}}],"#
                    + #""statuses":[{"id":"wamid.b","status":"sent","timestamp":"1700000001","recipient_id":"15550002"}]}"#))
            let contacts = Dictionary(uniqueKeysWithValues: batch.map {
                ($0.subject ?? "", $0.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]?["contacts"] ?? .null)
            })
            #expect(contacts["wamid.a"] == [["wa_id": "15550001", "profile": ["name": "A"]]])
            #expect(contacts["wamid.b"] == .null, "B's status does not carry A's contact")
            let unnamed = try normalize(Self.envelope(
                field: "messages",
                value: #"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"pn-1"},"contacts":[{"profile":{"name":"Nameless"}}],"#
                    + #""messages":[{"from_user_id":"US.9","id":"wamid.c","timestamp":"1700000000","type":"text","text":{"body":"hi"}}]}"#))
            #expect(unnamed.first?.data["sender_name"] == "Nameless")
        }

        /// Members each item's raw repeats are kept only at a real webhook's size: inflated,
        /// they are left out rather than copied into every item.
        @Test func inflatedSharedMembersAreNotCopiedIntoEveryItem() throws {
            let pad = String(repeating: "e", count: 100_000)
            let count = 50
            let statuses = (0..<count).map {
                #"{"id":"wamid.s\#($0)","status":"sent","timestamp":"1700000000","recipient_id":"15550000"}"#
            }.joined(separator: ",")
            let body = #"{"object":"whatsapp_business_account","entry":[{"id":""# + pad + #"","changes":[{"field":"messages","value":{"#
                + #""messaging_product":"whatsapp","metadata":{"phone_number_id":"pn-1","x":""# + pad + #""},"errors":[{"title":""# + pad
                + #""}],"contacts":[{"wa_id":"15550000","profile":{"name":""# + pad + #""}}],"statuses":["# + statuses + "]}}]}]}"
            let events = try normalize(body)
            // `errors` and the contact, too large to repeat, are kept once in an event of their own.
            #expect(events.count == count + 1)
            let left = events.last?.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]
            #expect(events.last?.type == .providerUnknown && left?["errors"]?[0]?["title"]?.stringValue == pad)
            #expect(left?["contacts"]?[0]?["profile"]?["name"]?.stringValue == pad)
            let stored = events.reduce(0) { $0 + $1.cloudEventBytes.count }
            #expect(stored < body.utf8.count, "\(stored) bytes stored for a \(body.utf8.count)-byte body")
        }

        /// A member Meta adds beside a batch's items is in no item's cut-down raw: it is kept
        /// in one `provider.unknown` event per change, with the same id on a retry. A body
        /// that is its one item's raw keeps it there, and has no such event.
        @Test func membersBesideABatchsItemsAreKeptOnce() throws {
            let statuses = (0..<3).map { #"{"id":"wamid.s\#($0)","status":"sent","timestamp":"1700000000","recipient_id":"15550000"}"# }
            let value = { (items: [String]) in
                #"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"pn-1"},"conversation_window":{"open":true},"statuses":["#
                    + items.joined(separator: ",") + "]}"
            }
            let batch = try normalize(Self.envelope(field: "messages", value: value(statuses)))
            #expect(batch.count == 4)
            let left = batch.last?.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]
            #expect(batch.last?.type == .providerUnknown)
            #expect(left == ["messaging_product": "whatsapp", "metadata": ["phone_number_id": "pn-1"], "conversation_window": ["open": true]])
            // An array of items this field does not read, and a contact no item names, too.
            let stray = try normalize(Self.envelope(
                field: "messages",
                value: #"{"metadata":{"phone_number_id":"pn-1"},"contacts":[{"wa_id":"15559999"}],"message_echoes":[{"id":"e"}],"statuses":["#
                    + statuses.joined(separator: ",") + "]}"))
            let strayLeft = stray.last?.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]
            #expect(stray.count == 4)
            #expect(strayLeft == ["metadata": ["phone_number_id": "pn-1"], "contacts": [["wa_id": "15559999"]], "message_echoes": [["id": "e"]]])
            #expect(try normalize(Self.envelope(field: "messages", value: value(statuses))).map(\.id) == batch.map(\.id))
            let alone = try normalize(Self.envelope(field: "messages", value: value([statuses[0]])))
            #expect(alone.count == 1)
            #expect(alone.first?.data["raw"]?["entry"]?[0]?["changes"]?[0]?["value"]?["conversation_window"] == ["open": true])
        }

        /// An entry without changes is kept whole as its unknown event's raw, so two such
        /// entries are two events; and a change's unknown event has one id whether it came
        /// alone or in a batch with members Meta does not send.
        @Test func unknownEventsKeepTheirPayloadAndTheirIdAcrossBatching() throws {
            let entries = try normalize(#"{"object":"whatsapp_business_account","entry":[{"id":"w","time":1,"surprise":"a"},{"id":"w","time":1,"surprise":"b"}]}"#)
            #expect(entries.count == 2)
            #expect(entries.map { $0.data["raw"]?["entry"]?[0]?["surprise"] } == ["a", "b"])
            let change = #"{"field":"brand_new_field","value":{"x":1}}"#
            let alone = try normalize(#"{"object":"whatsapp_business_account","extra":1,"entry":[{"id":"w","changes":["# + change + "]}]}")
            let batched = try normalize(#"{"object":"whatsapp_business_account","extra":2,"entry":[{"id":"w","changes":["# + change
                + #",{"field":"other_new_field","value":{}}]}]}"#)
            #expect(alone.first?.type == .providerUnknown)
            #expect(alone.first?.id == batched.first?.id)
        }

        @Test func idsAreDeterministicAcrossDifferentBatching() throws {
            let batch = try normalize(try ProviderCorpus.body("meta", "connectors_mixed_messages_and_statuses_batch"))
            let again = try normalize(try ProviderCorpus.body("meta", "connectors_mixed_messages_and_statuses_batch"))
            #expect(batch.map(\.id) == again.map(\.id))
            // A retry that carries only the status gives the status the same id.
            let alone = try normalize(Self.envelope(field: "messages", value: #"{"statuses":[{"id":"wamid.MSG1.111111","status":"delivered","timestamp":"1700000100","recipient_id":"15551234567"}]}"#))
            #expect(alone.first?.id == batch.first { $0.type == .messageDelivered }?.id)
        }

        /// A group message's statuses come per participant with the same id, status and
        /// time: each is its own event, not a duplicate of the first.
        @Test func eachGroupParticipantsStatusIsItsOwnEvent() throws {
            func status(_ participant: String) -> String {
                #"{"id":"wamid.G","status":"read","timestamp":"1700000000","recipient_id":"group-1","recipient_type":"group","recipient_participant_id":""#
                    + participant + #""}"#
            }
            let events = try normalize(Self.envelope(field: "messages", value: #"{"statuses":["# + status("15551110001") + "," + status("15551110002") + "]}"))
            #expect(events.count == 2)
            #expect(Set(events.map(\.id)).count == 2)
            #expect(events.map { $0.data["recipient"]?.stringValue } == ["+15551110001", "+15551110002"])
            // A retry of one participant's status is still that event.
            let retry = try normalize(Self.envelope(field: "messages", value: #"{"statuses":["# + status("15551110002") + "]}"))
            #expect(retry.map(\.id) == [events[1].id])
        }

        @Test func templateAccountAndOtherFields() throws {
            let template = try normalize(Self.envelope(field: "message_template_status_update",
                value: #"{"event":"APPROVED","message_template_id":12345,"message_template_name":"order_update","message_template_language":"en_US","reason":"NONE"}"#))
            #expect(template.map(\.type) == [.templateUpdated])
            #expect(template.first?.subject == "12345")
            #expect(template.first?.data["native"] == ["event_type": "message_template_status_update", "status": "APPROVED"])
            #expect(template.first.map { Timestamp.format($0.time) } == "2023-11-14T22:13:20.000Z")
            let account = try normalize(Self.envelope(field: "phone_number_quality_update",
                value: #"{"display_phone_number":"15550001111","event":"FLAGGED","current_limit":"TIER_1K"}"#))
            #expect(account.map(\.type) == [.accountUpdated])
            #expect(account.first?.subject == "waba-1")
            let flows = try normalize(Self.envelope(field: "flows", value: #"{"event":"FLOW_STATUS_CHANGE"}"#))
            #expect(flows.map(\.type) == [.providerUnknown])
            #expect(try normalize(#"{"object":"page","entry":[]}"#).map(\.type) == [.providerUnknown])
            #expect(try normalize(#"{"object":"whatsapp_business_account"}"#).map(\.type) == [.providerUnknown])
        }

        @Test func reactionsContactsAndRevokes() throws {
            let revoke = try normalize(try ProviderCorpus.body("meta", "pywa_message_revoke")).first
            #expect(revoke?.type == .messageDeleted)
            #expect(revoke?.status == .deleted)
            #expect(revoke?.subject == "<ORIGINAL_WHATSAPP_MESSAGE_ID>")
            let removed = try normalize(try ProviderCorpus.body("meta", "pywa_message_unreaction_empty")).first
            #expect(removed?.data["message"]?["reaction"]?["removed"] == true)
        }
    }
}
