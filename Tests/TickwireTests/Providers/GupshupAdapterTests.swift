import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Gupshup adapter")
    struct GupshupAdapterTests {
        let adapter = GupshupAdapter(config: NoOptions())
        let channel = Golden.channel("gupshup")

        func normalize(_ body: [UInt8]) throws -> [Event] {
            try adapter.normalize(Golden.request(body: body), channel: channel)
        }

        func normalize(_ text: String) throws -> [Event] { try normalize(Array(text.utf8)) }

        @Test func corpusMatchesGoldenFiles() throws {
            try Golden.checkCorpus("gupshup") { try normalize($0) }
        }

        @Test func idsAreDeterministicAndIgnoreTheEnvelopeTimestamp() throws {
            let body = try ProviderCorpus.body("gupshup", "jaimey_message_event_delivered")
            let first = try normalize(body)
            #expect(try normalize(body).map(\.id) == first.map(\.id))
            let retried = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "1585344476683", with: "1585344499999")
            #expect(try normalize(retried).map(\.id) == first.map(\.id))
            let later = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\"ts\": 1585344476", with: "\"ts\": 1585344477")
            #expect(try normalize(later).map(\.id) != first.map(\.id))
            let other = try adapter.normalize(Golden.request(body: body), channel: ChannelContext(org: "other", channel: "gupshup", provider: "gupshup"))
            #expect(other.map(\.id) != first.map(\.id))
        }

        /// Callbell relays the inner payload alone: it maps like the enveloped event, same id.
        @Test func bareInnerPayloadMatchesItsEnvelopedForm() throws {
            let bare = try normalize(try ProviderCorpus.body("gupshup", "callbell_read_inner_payload_only"))
            let inner = String(decoding: try ProviderCorpus.body("gupshup", "callbell_read_inner_payload_only"), as: UTF8.self)
            let enveloped = try normalize(#"{"app":"a","timestamp":1686563914000,"version":2,"type":"message-event","payload":"# + inner + "}")
            #expect(bare.count == 1 && bare.first?.type == .messageRead)
            #expect(bare.map(\.id) == enveloped.map(\.id))
            #expect(bare.first?.data["envelope"] == "missing")
        }

        @Test func v3StatusesUseTheGupshupIDAndAcceptEnqueued() throws {
            let body = #"""
                {"gs_app_id":"app-uuid","object":"whatsapp_business_account","entry":[{"id":"waba","changes":[{"field":"messages","value":{
                 "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"pn"},
                 "statuses":[{"id":"wamid.A","gs_id":"gs-1","status":"enqueued","timestamp":"1700000000123","recipient_id":"919876543210"},
                             {"id":"wamid.A","gs_id":"gs-1","status":"delivered","timestamp":"1700000005","recipient_id":"919876543210"}]}}]}]}
                """#
            let events = try normalize(body)
            #expect(events.map(\.type) == [.messageEnqueued, .messageDelivered])
            #expect(events.map(\.subject) == ["gs-1", "gs-1"])
            #expect(events.first?.data["provider_message_ids"] == ["wamid.A", "gs-1"])
            #expect(events.first.map { Timestamp.format($0.time) } == "2023-11-14T22:13:20.123Z")
            #expect(events.first?.data["raw"]?["gs_app_id"] == "app-uuid")
            // Meta itself never sends `enqueued`.
            let meta = try MetaAdapter(config: NoOptions()).normalize(Golden.request(body: Array(body.utf8)), channel: Golden.channel("meta"))
            #expect(meta.first?.type == .messageOther)
            #expect(meta.first?.subject == "wamid.A")
        }

        @Test func otherFamiliesMapToTheirTypes() throws {
            let cases: [(String, EventType)] = [
                (#"{"type":"preference-event","timestamp":1,"payload":{"type":"user_preferences","payload":{"user_preferences":[{"wa_id":"919876543210","category":"marketing_messages","value":"stop","timestamp":1731705721}]}}}"#, .userOptedOut),
                (#"{"type":"account-event","app":"DemoApp","payload":{"type":"tier-event","payload":{"oldLimit":"TIER_1K","currentLimit":"TIER_10K"}}}"#, .accountUpdated),
                (#"{"type":"onboarding-event","app":"DemoApp","payload":{"type":"docker-status-event","payload":{"status":"LIVE"}}}"#, .accountUpdated),
                (#"{"type":"template-event","payload":{"type":"category-update","id":"t1","category":{"old":"MARKETING","new":"UTILITY"}}}"#, .templateUpdated),
                (#"{"type":"message-event","payload":{"id":"g1","type":"mismatch","destination":"5511987654321","payload":{"wa_id":"551187654321","phone":"5511987654321"}}}"#, .messageOther),
                (#"{"type":"message","payload":{"id":"w1","type":"quick_reply","payload":{"text":"Yes","type":"button","postbackText":"YES_1"},"sender":{"phone":"919876543210"}}}"#, .messageReceived),
                (#"{"type":"something-new","payload":{}}"#, .providerUnknown),
                (#"{"app":"a","payload":{"x":1}}"#, .providerUnknown),
                (#"{"type":"user-event","payload":{"type":"unknown-kind","phone":"919876543210"}}"#, .providerUnknown),
            ]
            for (body, type) in cases {
                let events = try normalize(body)
                #expect(events.map(\.type) == [type], "\(body)")
                #expect(events.first?.data["raw"] == (try JSONValue.parse(body)))
            }
            let stop = try normalize(cases[0].0).first
            #expect(stop?.subject == "+919876543210")
            #expect(stop?.data["scope"] == "marketing_messages")
            let quickReply = try normalize(cases[5].0).first?.data["message"]
            #expect(quickReply?["type"] == "button")
            #expect(quickReply?["reply"] == ["title": "Yes", "payload": "YES_1"])
        }

        @Test func inboundTypesWithoutCorpusSamples() throws {
            func message(_ type: String, _ inner: String) throws -> JSONValue? {
                try normalize(#"{"type":"message","payload":{"id":"w","type":""# + type + #"","payload":"# + inner + #","sender":{"phone":"919876543210","name":"A"}}}"#)
                    .first?.data["message"]
            }
            #expect(try message("list_reply", #"{"title":"Row","id":"r1","reply":"Row 1","postbackText":"ROW_1","description":"d"}"#)
                == ["type": "list_reply", "text": "Row", "reply": ["id": "r1", "title": "Row", "payload": "ROW_1", "description": "d"]])
            #expect(try message("contact", #"{"contacts":[{"name":{"formatted_name":"Asha"}}]}"#)?["contacts"] == [["name": ["formatted_name": "Asha"]]])
            #expect(try message("reaction", #"{"emoji":"👍","msgId":"x"}"#)?["type"] == "reaction")
            #expect(try message("file", #"{"url":"https://f/x.pdf","name":"x.pdf","contentType":"application/pdf"}"#)
                == ["type": "document", "url": "https://f/x.pdf", "filename": "x.pdf", "mime_type": "application/pdf"])
        }

        @Test func acknowledgementIsTheDefaultJSON() throws {
            let response = adapter.acknowledgement(for: Golden.request(body: []), eventIDs: ["a", "b"])
            #expect(response.status == 200)
            #expect(try JSONValue.parse(response.body) == ["accepted": 2, "ids": ["a", "b"]])
        }
    }
}
