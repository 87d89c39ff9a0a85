import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Twilio adapter")
    struct TwilioAdapterTests {
        let adapter = TwilioAdapter(config: NoOptions())
        let channel = Golden.channel("twilio")

        func request(_ pairs: [(String, String)]) -> WebhookRequest {
            Golden.request(body: Array(FormFixture.encode(pairs).utf8), contentType: "application/x-www-form-urlencoded")
        }

        func normalize(_ pairs: [(String, String)]) throws -> [Event] {
            try adapter.normalize(request(pairs), channel: channel)
        }

        /// Corpus files are JSON objects of the form fields, in the order Twilio sent them.
        @Test func corpusMatchesGoldenFiles() throws {
            try Golden.checkCorpus("twilio") { try normalize(try FormFixture.pairs($0)) }
        }

        @Test func incomingMessagesAreAnsweredWithEmptyTwiML() throws {
            let inbound = request([("MessageSid", "SM1"), ("SmsStatus", "received"), ("Body", "hi"), ("From", "whatsapp:+14155550199")])
            let twiml = adapter.acknowledgement(for: inbound, eventIDs: ["x"])
            #expect(twiml.status == 200)
            #expect(twiml.contentType == "text/xml")
            #expect(String(decoding: twiml.body, as: UTF8.self) == #"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#)
            let status = adapter.acknowledgement(for: request([("MessageSid", "SM1"), ("MessageStatus", "sent")]), eventIDs: ["x"])
            #expect(status.contentType == "application/json")
        }

        @Test func statusesMapAsTheTableSays() throws {
            let table: [(String, EventType, MessageStatus?)] = [
                ("accepted", .messageEnqueued, .enqueued), ("scheduled", .messageEnqueued, .enqueued), ("sending", .messageEnqueued, .enqueued),
                ("sent", .messageSent, .sent), ("undelivered", .messageFailed, .failed), ("canceled", .messageFailed, .failed),
                ("partially_delivered", .messageOther, nil), ("receiving", .messageOther, nil), ("received", .messageOther, nil),
            ]
            for (native, type, status) in table {
                let event = try normalize([("MessageSid", "SM1"), ("MessageStatus", native), ("To", "whatsapp:+14155550199")]).first
                #expect(event?.type == type)
                #expect(event?.status == status)
                #expect(event?.data["recipient"] == "+14155550199")
            }
            let canceled = try normalize([("MessageSid", "SM1"), ("MessageStatus", "canceled")]).first
            #expect(canceled?.data["error"]?["code"] == "canceled")
        }

        @Test func idsDifferByStatusAndErrorCodeOnly() throws {
            let failed = try normalize([("MessageSid", "SM1"), ("MessageStatus", "failed"), ("ErrorCode", "63018")])
            #expect(try normalize([("MessageSid", "SM1"), ("MessageStatus", "failed"), ("ErrorCode", "63018"), ("AccountSid", "AC1")]).map(\.id) == failed.map(\.id))
            #expect(try normalize([("MessageSid", "SM1"), ("MessageStatus", "failed"), ("ErrorCode", "30008")]).map(\.id) != failed.map(\.id))
            #expect(try normalize([("MessageSid", "SM1"), ("MessageStatus", "undelivered"), ("ErrorCode", "63018")]).map(\.id) != failed.map(\.id))
        }

        @Test func mediaRepliesReferralsAndRepeatedFields() throws {
            let event = try normalize([
                ("MessageSid", "MM1"), ("SmsStatus", "received"), ("Body", "two files"), ("NumMedia", "2"),
                ("MediaUrl0", "https://api.twilio.com/m0"), ("MediaContentType0", "image/png"),
                ("MediaUrl1", "https://api.twilio.com/m1"), ("MediaContentType1", "application/pdf"),
                ("OriginalRepliedMessageSid", "SM0"), ("ProfileName", "Asha"), ("From", "whatsapp:+919876543210"),
                ("ReferralSourceUrl", "https://fb.me/ad"), ("ReferralCtwaClid", "clid"), ("Tag", "a"), ("Tag", "b"),
            ]).first
            let message = event?.data["message"]
            #expect(message?["type"] == "image")
            #expect(message?["caption"] == "two files")
            #expect(message?["media"]?.arrayValue?.count == 2)
            #expect(message?["context"]?["reply_to"] == "SM0")
            #expect(event?.data["sender_name"] == "Asha")
            #expect(event?.data["referral"] == ["source_url": "https://fb.me/ad", "ctwa_clid": "clid"])
            #expect(event?.data["raw"]?["Tag"] == ["a", "b"])
        }
    }
}
