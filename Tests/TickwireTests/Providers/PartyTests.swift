import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    /// Phone members and business-scoped user ids (`sender`, `sender_user_id`, …).
    @Suite("Parties")
    struct PartyTests {
        @Test(arguments: [
            ("US.1234", true), ("US.ENT.11815799212886844830", true), ("BR.abcXYZ09", true),
            ("US", false), ("US.", false), ("US..1", false), ("US.1.", false), ("Us.1", false), ("USA.1", false),
            ("U.1", false), ("US-1", false), ("US.1_2", false), ("US.ü", false), ("ÜS.1", false), ("", false),
            ("+919876543210", false), ("919876543210", false),
        ])
        func businessScopedUserIDs(value: String, expected: Bool) {
            #expect(Party.isBusinessScopedUserID(value) == expected)
        }

        @Test func channelPrefixesAreStrippedOnce() {
            #expect(Party.stripChannelPrefix("whatsapp:US.1234") == "US.1234")
            #expect(Party.stripChannelPrefix("whatsapp:+91:1") == "+91:1")
            #expect(Party.stripChannelPrefix("+919876543210") == "+919876543210")
            #expect(Party.stripChannelPrefix("é:x") == "x")
            #expect(Party.stripChannelPrefix("x:") == "")
        }

        @Test func fieldsGiveThePhoneOrTheUserID() {
            #expect(Party.fields(.sender, "whatsapp:+91 98765 43210") == ["sender": "+919876543210", "sender_user_id": nil])
            #expect(Party.fields(.sender, "whatsapp:US.1234") == ["sender": nil, "sender_user_id": "US.1234"])
            #expect(Party.fields(.recipient, "919876543210", userID: "US.9") == ["recipient": "+919876543210", "recipient_user_id": "US.9"])
        }
    }
}
