import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Unifonic adapter")
    struct UnifonicAdapterTests {
        let adapter = UnifonicAdapter(config: NoOptions())
        let channel = Golden.channel("unifonic")

        func normalize(_ text: String) throws -> [Event] {
            try adapter.normalize(Golden.request(body: Array(text.utf8)), channel: channel)
        }

        @Test func corpusMatchesGoldenFiles() throws {
            try Golden.checkCorpus("unifonic") { try adapter.normalize(Golden.request(body: $0), channel: channel) }
        }

        static func status(_ type: String, extra: String = "") -> String {
            #"{"messageId":"m-1","eventId":"e-1","eventType":""# + type + #"","recipient":{"channel":"whatsapp","contact":"+966500000001"},"# + extra
                + #""timestamp":"2023-05-02T11:36:51.000Z","receivedAt":"2023-05-02T11:36:51.626Z"}"#
        }

        @Test func aTimeFromBeforeYearOneIsNotTheProviderTime() throws {
            // Foundation's parser read month 00 of year 0000 as year −1, and formatting the
            // event's time trapped: one body stopped the daemon for every org.
            for time in ["0000-00-01T00:00:00Z", "0000-01-01T00:00:00Z", "999999999-01-01T00:00:00Z"] {
                let body = #"{"messageId":"m-1","eventType":"message.delivered","timestamp":""# + time + #""}"#
                let event = try #require(try normalize(body).first)
                #expect(event.type == .messageDelivered)
                let year = Int(Timestamp.format(event.time).prefix(4)) ?? 0
                #expect((1970..<3000).contains(year), "\(time) became \(Timestamp.format(event.time))")
            }
        }

        @Test func deliveryStatusesMapAsTheSeedSays() throws {
            let table: [(String, EventType)] = [
                ("message.sent_successfully_to_provider", .messageEnqueued), ("message.sent", .messageSent),
                ("message.delivered", .messageDelivered), ("message.read", .messageRead), ("message.rejected", .messageFailed),
                ("message.something_new", .messageOther),
            ]
            var ids = Set<String>()
            for (native, type) in table {
                let event = try normalize(Self.status(native)).first
                #expect(event?.type == type)
                #expect(event?.data["recipient"] == "+966500000001")
                #expect(event.map { Timestamp.format($0.time) } == "2023-05-02T11:36:51.000Z")
                ids.insert(event?.id ?? "")
            }
            // The docs reuse one eventId for every type: the ids still differ.
            #expect(ids.count == table.count)
            let rejected = try normalize(Self.status("message.rejected", extra: #""failReason":"invalid_contact","#)).first
            #expect(rejected?.data["error"] == ["code": "invalid_contact", "title": "invalid_contact", "detail": nil])
            #expect(try normalize(#"{"eventType":"conversation.closed","messageId":"x"}"#).first?.type == .providerUnknown)
        }

        /// A deletion is the user's own message deleted for everyone (DESIGN §2): the phone
        /// is its sender, under `sender` as in `message.received` (or `recipient`).
        @Test func aDeletionNamesTheUserAsSender() throws {
            for party in [#""sender":{"contact":"+966501234567"}"#, #""recipient":{"contact":"+966501234567"}"#,
                          #""sender":{"contact":null},"recipient":{"contact":"+966501234567"}"#] {
                let body = #"{"messageId":"m1","eventType":"message.deleted","# + party + "}"
                let event = try #require(try normalize(body).first)
                #expect(event.type == .messageDeleted)
                #expect(event.data["sender"] == "+966501234567")
                #expect(event.data["recipient"] == nil)
            }
        }

        @Test func incomingMessages() throws {
            let text = try normalize(#"""
                {"messageId":"in-1","eventId":"e-2","eventType":"message.received","applicationId":"app","parentMessageId":"out-1",
                 "conversationId":"c","sender":{"channel":"whatsapp","contact":"+966500000002","name":"Layla"},
                 "content":{"type":"option","text":"Yes","attachments":[{"type":"option","option":{"text":"Yes","value":"YES"}}]},
                 "timestamp":"2023-05-02T11:36:48.000Z","receivedAt":"2023-05-02T11:36:48.768Z"}
                """#).first
            #expect(text?.type == .messageReceived)
            #expect(text?.data["sender"] == "+966500000002")
            #expect(text?.data["sender_name"] == "Layla")
            #expect(text?.data["message"] == ["type": "option", "text": "Yes", "reply": ["title": "Yes", "payload": "YES"], "context": ["reply_to": "out-1"]])
        }
    }
}
