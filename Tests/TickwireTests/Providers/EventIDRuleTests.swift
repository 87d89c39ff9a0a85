import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    /// DESIGN §2: the same notification gives the same id (a retry is dropped as one), and two
    /// different notifications never share one (the second would be dropped as a retry).
    @Suite("Event id rules")
    struct EventIDRuleTests {
        func gupshup(_ text: String) throws -> [Event] {
            try GupshupAdapter(config: NoOptions()).normalize(Golden.request(body: Array(text.utf8)), channel: Golden.channel("gupshup"))
        }

        func ids(_ events: [Event]) -> [String] { events.map(\.id) }

        /// Users with no phone (business-scoped ids) are told apart by their user id: every
        /// such user's opt-out had one id, and all but the first were lost.
        @Test func optOutsOfUsersWithoutAPhoneAreTheirOwn() throws {
            func userEvent(_ user: String, at time: Int = 1_700_000_000_000) throws -> [Event] {
                try gupshup(#"{"app":"A","timestamp":\#(time),"version":2,"type":"user-event","payload":{"type":"opted-out","userId":"\#(user)"}}"#)
            }
            let first = try userEvent("IN.1"), second = try userEvent("IN.2")
            #expect(first.map(\.type) == [.userOptedOut])
            // The subject: what keeps one user's opt-out and opt-in in order at a console.
            #expect(first.first?.subject == "IN.1")
            #expect(first.first?.data["sender_user_id"] == "IN.1")
            #expect(ids(first) != ids(second))
            #expect(ids(first) == ids(try userEvent("IN.1", at: 1_700_000_009_000)), "a retry (new envelope time) is the same")

            func preference(_ user: String) throws -> [Event] {
                try MetaAdapter(config: NoOptions()).normalize(
                    Golden.request(body: Array(MetaAdapterTests.envelope(
                        field: "user_preferences",
                        value: #"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"pn"},"user_preferences":[{"user_id":"\#(user)","value":"stop","category":"marketing_messages","timestamp":1731705721}]}"#
                    ).utf8)),
                    channel: Golden.channel("meta"))
            }
            #expect(try preference("US.111").map(\.type) == [.userOptedOut])
            #expect(ids(try preference("US.111")) != ids(try preference("US.222")))
        }

        /// Two failure reports about one message differ in what they say: the one with code
        /// 1002 (what marks a number as not on WhatsApp) was dropped behind one without code.
        @Test func failureReportsThatSayDifferentThingsAreTwoEvents() throws {
            let withoutCode = try GupshupAdapter(config: NoOptions()).normalize(
                Golden.request(body: try ProviderCorpus.body("gupshup", "glific_message_event_failed_no_code")), channel: Golden.channel("gupshup"))
            let withCode = try GupshupAdapter(config: NoOptions()).normalize(
                Golden.request(body: try ProviderCorpus.body("gupshup", "glific_message_event_failed_1002_number_not_on_whatsapp")),
                channel: Golden.channel("gupshup"))
            #expect(withoutCode.first?.subject == withCode.first?.subject)
            #expect(ids(withoutCode) != ids(withCode))
            // The same report again, as a retry sends it (only the envelope's time changes).
            let failed = #"{"id":"wamid.f","gsId":"gs-f","type":"failed","destination":"919800000001","payload":{"code":470,"reason":"window"}}"#
            let first = try gupshup(#"{"app":"A","timestamp":1700000000000,"version":2,"type":"message-event","payload":\#(failed)}"#)
            let retry = try gupshup(#"{"app":"A","timestamp":1700000060000,"version":2,"type":"message-event","payload":\#(failed)}"#)
            #expect(ids(first) == ids(retry))
        }

        /// Without a message id, an event is known by its content, not by its channel alone.
        @Test func eventsWithoutAMessageIDAreKnownByTheirContent() throws {
            func failed(_ destination: String) throws -> [Event] {
                try gupshup(#"{"app":"A","timestamp":1700000000000,"version":2,"type":"message-event","payload":{"type":"failed","destination":"\#(destination)","payload":{"code":1003}}}"#)
            }
            #expect(ids(try failed("919800000001")) != ids(try failed("919800000002")))

            func billing(_ destination: String) throws -> [Event] {
                try gupshup(#"{"app":"A","timestamp":1700000000000,"version":2,"type":"billing-event","payload":{"deductions":{"type":"marketing","model":"PMP","billable":true},"references":{"destination":"\#(destination)"}}}"#)
            }
            #expect(ids(try billing("919800000001")) != ids(try billing("919800000002")))

            func twilio(_ to: String) throws -> [Event] {
                try TwilioAdapter(config: NoOptions()).normalize(
                    Golden.request(body: Array("MessageStatus=failed&To=whatsapp%3A%2B\(to)&ErrorCode=63016".utf8), contentType: "application/x-www-form-urlencoded"),
                    channel: Golden.channel("twilio"))
            }
            #expect(ids(try twilio("14155550100")) != ids(try twilio("14155550101")))
        }

        /// Two preference items this table does not know, in one body, are two events.
        @Test func unknownPreferenceItemsOfOneBodyAreTwoEvents() throws {
            let events = try gupshup(
                #"{"app":"A","timestamp":1700000000000,"version":2,"type":"preference-event","payload":{"user_preferences":[{"wa_id":"919800000001","value":"pause"},{"wa_id":"919800000002","value":"pause"}]}}"#)
            #expect(events.map(\.type) == [.providerUnknown, .providerUnknown])
            #expect(Set(ids(events)).count == 2)
        }
    }
}
