import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    /// Bodies no provider sends on purpose: each is either a 400 or events, never a crash.
    @Suite("Hostile inputs")
    struct HostileInputTests {
        static let jsonAdapters: [any ProviderAdapter] = [
            GupshupAdapter(config: NoOptions()), MetaAdapter(config: NoOptions()), UnifonicAdapter(config: NoOptions()),
        ]

        /// Normalizes with every JSON adapter: nil means a 400 with the `invalid_body` code.
        func outcomes(_ body: [UInt8]) -> [[Event]?] {
            Self.jsonAdapters.map { adapter in
                let channel = Golden.channel(type(of: adapter).name)
                do {
                    return try adapter.normalize(Golden.request(body: body), channel: channel)
                } catch let error as WebhookRejection {
                    #expect(error.status == 400 && error.code == "invalid_body")
                    return nil
                } catch {
                    Issue.record("unexpected error \(error)")
                    return nil
                }
            }
        }

        @Test(arguments: ["", "not json", "{\"type\": ", "{\"a\":1}{}", "\u{FEFF}"])
        func bodiesThatAreNotJSONAreRejected(body: String) {
            #expect(outcomes(Array(body.utf8)).allSatisfy { $0 == nil })
        }

        /// JSON that is not an object parses, so it is kept (DESIGN §1): one
        /// `provider.unknown` event holding it, the same id for the same body.
        @Test(arguments: ["[1, 2]", "\"text\"", "42", "null"])
        func jsonThatIsNotAnObjectIsKeptAsUnknown(body: String) throws {
            for events in outcomes(Array(body.utf8)) {
                let event = try #require(events?.first)
                #expect(events?.count == 1 && event.type == .providerUnknown)
                #expect(event.data["raw"] == (try JSONValue.parse(Array(body.utf8))))
                #expect(event.data["reason"] == "body is JSON but not an object")
            }
            #expect(outcomes(Array(body.utf8)).map { $0?.first?.id } == outcomes(Array(body.utf8)).map { $0?.first?.id })
        }

        @Test func invalidUTF8IsRejected() {
            #expect(outcomes([0x7B, 0xFF, 0xFE, 0x7D]).allSatisfy { $0 == nil })
        }

        @Test func deepNestingIsRejectedOrKept() {
            let depth = 100_000
            let body = "{\"type\":\"message\",\"payload\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
            for outcome in outcomes(Array(body.utf8)) {
                if let events = outcome { #expect(events.count == 1) }
            }
        }

        /// Objects are sorted arrays: building one name by name would be quadratic. A form
        /// with 200 000 fields (repeated names among them) and a JSON object as wide both
        /// come out whole.
        @Test func wideBodiesComeOutWhole() throws {
            let count = 200_000
            var form = (0..<count).map { "Referral\($0 % 1000)x\($0)=v\($0)" }
            form += ["MessageSid=SM1", "SmsStatus=delivered", "Tag=a", "Tag=b", "ReferralBody=first", "ReferralBody=last"]
            let fields = try #require(FormBody(Array(form.joined(separator: "&").utf8)))
            let json = fields.json
            #expect(json.objectValue?.count == count + 4)
            #expect(json["Tag"] == ["a", "b"])
            #expect(json["Referral7x7"] == "v7")
            let names = (0..<count).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
            let wide = try JSONValue.parse("{" + names + ",\"k5\":\"again\"}")
            #expect(wide.objectValue?.count == count)
            #expect(wide["k5"] == "again")
            #expect(wide["k199999"] == 199_999)
        }

        /// A number past a double's range is not JSON this parser takes (400); every other
        /// body parses and becomes events, whatever its numbers.
        @Test(arguments: [
            (#"{"type":"message-event","timestamp":1e400,"payload":{"id":"a","type":"sent","payload":{"ts":1e300}}}"#, false),
            (#"{"type":"message-event","timestamp":123456789012345678901234567890,"payload":{"id":12345678901234567890123,"type":"read","payload":{"ts":-99999999999999999999}}}"#, true),
            (#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"sent","timestamp":"99999999999999999999999"}]}}]}]}"#, true),
            (#"{"messageId":"m","eventType":"message.read","timestamp":-1e308}"#, true),
        ])
        func hugeNumbersDoNotTrap(body: String, parses: Bool) {
            for outcome in outcomes(Array(body.utf8)) {
                #expect((outcome != nil) == parses)
                for event in outcome ?? [] { #expect(!event.id.isEmpty) }
            }
        }

        /// Every member present with the wrong JSON type.
        @Test(arguments: [
            #"{"type":"message-event","payload":"x"}"#,
            #"{"type":"message-event","payload":{"type":["sent"],"id":{"a":1},"gsId":[],"payload":[1],"destination":true}}"#,
            #"{"type":"message","payload":{"type":"image","id":1,"payload":{"url":[],"caption":{},"urlExpiry":"soon"},"sender":"x","context":"y"}}"#,
            #"{"type":"message","payload":{"type":"location","id":"i","payload":{"latitude":"north","longitude":null}}}"#,
            #"{"type":"user-event","payload":{"type":"opted-in","phone":{"n":1}}}"#,
            #"{"type":"preference-event","payload":{"payload":{"user_preferences":["stop",{"value":"stop","wa_id":5,"timestamp":"x"}]}}}"#,
            #"{"type":"billing-event","payload":{"deductions":{"a":1},"references":[]}}"#,
            #"{"type":"template-event","payload":[]}"#,
            #"{"type":7,"payload":{}}"#,
            #"{"entry":"x"}"#,
            #"{"entry":[1,{"changes":"x"},{"changes":[1,{"field":1},{"field":"messages","value":{"messages":[1,{"type":7,"interactive":"x","context":[]}],"statuses":[null,{"status":1,"errors":"x"}]}}]}]}"#,
            #"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"type":"interactive","id":"i","interactive":{"type":"nfm_reply","nfm_reply":{"response_json":"{{{"}}},{"type":"edit","edit":{"message":{"type":"edit","edit":{}}}},{"type":"reaction","reaction":7}]}},{"field":"user_preferences","value":{"user_preferences":[{"value":"maybe"}]}},{"field":"smb_message_echoes","value":{}}]}]}"#,
            #"{"eventType":"message.received","content":{"attachments":"x","type":[]},"sender":[]}"#,
            #"{"eventType":7}"#,
        ])
        func wrongTypesBecomeEventsNotCrashes(body: String) {
            // Each parses, so each adapter keeps it as events (DESIGN §1), never a 400.
            for outcome in outcomes(Array(body.utf8)) {
                #expect(outcome?.isEmpty == false)
            }
        }

        @Test(arguments: ["%", "a=%zz", "a=%E2%82", "Body=%ff%fe", "a=%4"])
        func badFormBodiesAreRejected(body: String) {
            let adapter = TwilioAdapter(config: NoOptions())
            let request = Golden.request(body: Array(body.utf8), contentType: "application/x-www-form-urlencoded")
            #expect(throws: WebhookRejection.self) { try adapter.normalize(request, channel: Golden.channel("twilio")) }
        }

        @Test(arguments: ["x=1", "MessageSid=&MessageStatus=", "NumMedia=99999999999999999999999&MessageSid=SM1&SmsStatus=received", "NumMedia=-5&Body=&MessageSid=SM1", "==&&=&MessageStatus"])
        func oddFormBodiesBecomeEvents(body: String) throws {
            let adapter = TwilioAdapter(config: NoOptions())
            let request = Golden.request(body: Array(body.utf8), contentType: "application/x-www-form-urlencoded")
            #expect(try adapter.normalize(request, channel: Golden.channel("twilio")).count == 1)
        }
    }
}
