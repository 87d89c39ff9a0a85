import Foundation
import Testing
@testable import TickwireCore

@Suite("Core model")
struct CoreModelTests {
    @Test func hexEncodesLowerCaseAndDecodesEitherCase() {
        let bytes: [UInt8] = [0x00, 0x09, 0x0A, 0x7F, 0xA5, 0xFF]
        #expect(Hex.encode(bytes) == "00090a7fa5ff")
        #expect(Hex.encode(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Hex.decode("00090A7fa5FF") == bytes)
        #expect(Hex.decode("abc") == nil && Hex.decode("zz") == nil)
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test func eventPatternsMatchTypesAndGlobs() throws {
        #expect(try EventPattern("message.*").matches(.messageRead))
        #expect(try !EventPattern("message.*").matches(.userOptedIn))
        #expect(try EventPattern("*").matches(.providerUnknown))
        #expect(try EventPattern("user.opted_out").matches(.userOptedOut))
        #expect(throws: ConfigIssue.self) { try EventPattern("mesage.*") }
        #expect(throws: ConfigIssue.self) { try EventPattern("message.red") }
    }

    /// Dispatchers match the event's type, replay matches type names from the journal: the
    /// two must agree, and a glob still takes a name this version does not know.
    @Test func patternsMatchTypesAndTypeNamesAlike() throws {
        let patterns = try ["*", "message.*", "user.*", "billing.*", "message.read", "provider.unknown"].map(EventPattern.init)
        for pattern in patterns {
            for type in EventType.allCases {
                #expect(pattern.matches(type) == pattern.matches(type.rawValue), "\(pattern) \(type)")
            }
        }
        #expect(try EventPattern("message.*").matches("message.edited"))
        #expect(try !EventPattern("message.read").matches("message.reader"))
        #expect(try EventPattern("message.*").matches(.messageOther))
        #expect(try !EventPattern("user.*").matches(.messageRead))
    }

    @Test func subscriptionsMatchOrgChannelAndType() throws {
        let subscription = Subscription(name: "s", org: "acme", sink: "x", events: [try EventPattern("message.read")], channels: ["gs"])
        #expect(subscription.matches(TestEvents.status(.read, message: "m")))
        #expect(!subscription.matches(TestEvents.status(.sent, message: "m")))
        #expect(!subscription.matches(TestEvents.status(.read, message: "m", channel: "meta")))
        #expect(!subscription.matches(TestEvents.status(.read, message: "m", org: "other")))
    }

    @Test func eventIDsAreDeterministicAndSeparateTheirParts() {
        #expect(EventID.make(["a", "b"]) == EventID.make(["a", "b"]))
        #expect(EventID.make(["ab", "c"]) != EventID.make(["a", "bc"]))
        #expect(EventID.make(["a", nil]) != EventID.make(["a", ""]))
        #expect(EventID.make(["x"]).count == 32)
    }

    @Test func timestampsAreUTCWithMilliseconds() throws {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_585_344_476)) == "2020-03-27T21:27:56.000Z")
        #expect(Timestamp.fromEpoch(.int(1_585_344_476_683)).map(Timestamp.format) == "2020-03-27T21:27:56.683Z")
        #expect(Timestamp.fromEpoch(.string("1592311836")).map(Timestamp.format) == "2020-06-16T12:50:36.000Z")
        #expect(Timestamp.fromEpoch(.string("soon")) == nil)
        #expect(Timestamp.fromEpoch(.double(1e300)) == nil)
        #expect(Timestamp.fromAny(.string("2024-01-02T03:04:05Z")).map(Timestamp.format) == "2024-01-02T03:04:05.000Z")
    }

    /// The hand-written formatter agrees with Foundation's on every kind of date: leap days,
    /// century years, before the epoch, and milliseconds that sit a hair below their value.
    @Test func timesOutsideWhatEventsCanCarryAreRefusedNotTrapped() {
        // Foundation reads month 00 and year 0000 as dates in year −1, which formatting
        // trapped on: a provider body could stop the daemon for every org.
        for text in ["0000-00-01T00:00:00Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "3000-01-01T00:00:00Z", "999999999-01-01T00:00:00Z"] {
            #expect(Timestamp.parse(text) == nil, "\(text)")
            #expect(Timestamp.fromAny(.string(text)) == nil, "\(text)")
        }
        #expect(Timestamp.parse("2999-12-31T23:59:59Z") != nil)
        // Whatever Date reaches it, format writes four-digit years and returns.
        #expect(Timestamp.format(Date(timeIntervalSince1970: -62_167_219_200 - 86_400)) == "0000-01-01T00:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1e18)) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000Z")
    }

    @Test func timestampFormatAgreesWithFoundation() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        var generator = SystemRandomNumberGenerator()
        let fixed: [Int64] = [0, -1, 951_782_400_000, 4_107_542_400_000, 1_580_227_766_370, -2_208_988_800_000, 253_402_300_799_999]
        let random = (0..<2000).map { _ in Int64.random(in: -2_208_988_800_000...4_102_444_800_000, using: &generator) }
        for milliseconds in fixed + random {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let expected = Date(timeIntervalSince1970: (Double(milliseconds) + 0.5) / 1000).formatted(style)
            #expect(Timestamp.format(date) == expected, "\(milliseconds)")
            // Reading it back (without Foundation) gives the same instant, to the microsecond.
            let read = Timestamp.parseCanonical(expected)
            #expect(read.map { abs($0.timeIntervalSince(date)) < 1e-6 } == true, "\(expected)")
        }
        for text in ["2023-02-29T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-01-01T24:00:00.000Z", "2024-01-01T00:00:00Z",
                     "2024-01-01T00:00:00.000+01:00", "2024-01-0xT00:00:00.000Z"] {
            #expect(Timestamp.parseCanonical(text) == nil, "\(text)")
        }
        #expect(Timestamp.parse("2024-02-29T12:00:00.000Z") != nil)
        #expect(Timestamp.parse("2024-01-01T00:00:00+01:00").map(Timestamp.format) == "2023-12-31T23:00:00.000Z")
    }

    @Test func phoneNumbersBecomeE164() {
        #expect(PhoneNumber.e164("919876543210") == "+919876543210")
        #expect(PhoneNumber.e164("whatsapp:+14155238886") == "+14155238886")
        #expect(PhoneNumber.e164("+1 (415) 523-8886") == "+14155238886")
        #expect(PhoneNumber.e164("callbackSetPhone") == nil)
        #expect(PhoneNumber.e164("9876543210_1") == nil)
        #expect(PhoneNumber.e164("") == nil)
        #expect(PhoneNumber.e164("  +44 20 7946 0958 ") == "+442079460958")
        #expect(PhoneNumber.e164("+12345") == nil, "too short")
        #expect(PhoneNumber.e164("1234567890123456") == nil, "too long")
        #expect(PhoneNumber.e164("91+9876543210") == nil, "a plus inside")
        #expect(PhoneNumber.e164("whatsapp:") == nil)
        #expect(PhoneNumber.e164("٩١٩٨٧٦٥٤٣٢١٠") == nil, "digits that are not ASCII")
    }

    @Test func cloudEventsRoundTrip() throws {
        var event = TestEvents.status(.read, message: "wamid.1")
        event.data["raw"] = ["n": 12345678901234, "f": 1.5, "s": "x", "b": true, "z": nil]
        let json = event.cloudEvent.serialized()
        let back = try Event(cloudEventJSON: Array(json))
        #expect(back == event)
        let object = try JSONValue.parse(Array(json))
        #expect(object["specversion"] == "1.0")
        #expect(object["time"] == "2023-11-14T22:13:20.000Z")
        #expect(object["datacontenttype"] == "application/json")
    }

    @Test func constantTimeComparison() {
        #expect(ConstantTime.equals("secret-token", "secret-token"))
        #expect(!ConstantTime.equals("secret-token", "secret-tokem"))
        #expect(!ConstantTime.equals("secret", "secret-token"))
        #expect(!ConstantTime.equals("", "x"))
    }

    @Test func retryBackoffGrowsAndIsCapped() {
        let policy = RetryPolicy(maxAttempts: 5, maxAge: .seconds(60), initialBackoff: .seconds(1), maxBackoff: .seconds(10))
        #expect(policy.backoff(afterAttempt: 1, jitter: 1) == .seconds(1))
        #expect(policy.backoff(afterAttempt: 3, jitter: 1) == .seconds(4))
        #expect(policy.backoff(afterAttempt: 30, jitter: 1) == .seconds(10))
        #expect(policy.backoff(afterAttempt: 3, jitter: 0.5) == .seconds(2))
        #expect(policy.allowsRetry(attempts: 4, age: .seconds(1)))
        #expect(!policy.allowsRetry(attempts: 5, age: .seconds(1)))
        #expect(!policy.allowsRetry(attempts: 1, age: .seconds(61)))
        // max_age ends the retries in any case: no attempt is scheduled past it, even when
        // the backoff (or a Retry-After) would wait longer.
        let first = Date(timeIntervalSince1970: 1_000)
        #expect(policy.nextAttempt(after: first.addingTimeInterval(10), wait: .seconds(5), firstAttempt: first) == first.addingTimeInterval(15))
        #expect(policy.nextAttempt(after: first.addingTimeInterval(50), wait: .seconds(3600), firstAttempt: first) == first.addingTimeInterval(60))
        let unbounded = RetryPolicy(maxAttempts: nil, maxAge: nil, initialBackoff: .seconds(1), maxBackoff: .seconds(10))
        #expect(unbounded.nextAttempt(after: first, wait: .seconds(3600), firstAttempt: first) == first.addingTimeInterval(3600))
    }
}

@Suite("Stored event JSON")
struct StoredEventJSONTests {
    @Test func aChangedEventIsSerializedAnew() throws {
        let original = TestEvents.status(.sent, message: "m")
        var event = try Event(cloudEventJSON: original.cloudEvent.serializedBytes())
        #expect(event.cloudEventBytes == original.cloudEvent.serializedBytes())
        event.data["extra"] = "x"
        #expect(try JSONValue.parse(event.cloudEventBytes)["data"]?["extra"] == "x")
    }
}

@Suite("Message status")
struct MessageStatusTests {
    /// DESIGN §3's rule, whatever order the statuses arrived in (every permutation).
    @Test func currentStatusRuleIsOrderIndependent() {
        let cases: [([MessageStatus], MessageStatus?)] = [
            ([.failed, .delivered], .delivered), ([.sent, .failed], .failed), ([.read, .sent], .read),
            ([.enqueued, .sent, .failed, .read], .read), ([.deleted], .deleted),
            ([.sent, .deleted], .sent),  // an outbound status is not changed by a deletion
            ([], nil),
        ]
        func permutations(_ items: [MessageStatus]) -> [[MessageStatus]] {
            guard let first = items.first else { return [[]] }
            return permutations(Array(items.dropFirst())).flatMap { rest in
                (0...rest.count).map { var p = rest; p.insert(first, at: $0); return p }
            }
        }
        for (statuses, expected) in cases {
            for order in permutations(statuses) {
                #expect(MessageStatus.current(of: order) == expected, "\(order)")
            }
        }
    }
}
