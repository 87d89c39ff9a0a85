import Crypto
import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Twilio signature")
    struct TwilioSignatureTests {
        static let publicURL = "https://tickwire.example.org/v1/webhooks/acme/twilio"
        static let statusFields = [
            ("MessageStatus", "read"), ("To", "whatsapp:+14155550100"), ("MessageSid", "SM0001"),
            ("AccountSid", "AC123"), ("From", "whatsapp:+14155550199"),
        ]

        /// Twilio's own test vector, and two verified with twilio-python (twilio.md §1).
        @Test func signaturesMatchTheReferenceVectors() {
            let call = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
                        ("From", "+14158675309"), ("To", "+18005551212")]
            #expect(TwilioSignature.compute(url: "https://mycompany.com/myapp.php?foo=1&bar=2", parameters: call, authToken: "12345")
                == "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
            #expect(TwilioSignature.compute(url: Self.publicURL, parameters: Self.statusFields, authToken: "12345")
                == "aNqbdKjhURI+UG0Pczp1PFcKgXQ=")
            #expect(TwilioSignature.compute(url: "https://tickwire.example.org:443/v1/webhooks/acme/twilio", parameters: Self.statusFields, authToken: "12345")
                == "SEH2xsmXYxxvvZLfzv8cujN517I=")
        }

        /// Signed apart from `TwilioSignature`: names sorted by code point, as Python's
        /// `sorted` orders them in twilio-python (a decomposed `é` before the composed one,
        /// which Swift's `<` holds equal; U+FF21 before an emoji, which UTF-16 puts first),
        /// and an empty value. The literal was computed with Python's `hmac` over that string.
        @Test func namesAreSortedByCodePointAsTwilioPythonSortsThem() throws {
            let fields = [("😀", "1"), ("\u{FF21}", "2"), ("é", "3"), ("e\u{301}", "4"), ("Empty", "")]
            let signed = Self.publicURL + "Empty" + "" + "e\u{301}4" + "é3" + "\u{FF21}2" + "😀1"
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(signed.utf8), using: SymmetricKey(data: Array("12345".utf8)))
            let signature = Data(mac).base64EncodedString()
            #expect(signature == "d0GAh0QVUQiruvlvkw9xuG5HIHc=")
            try authenticator().authenticate(post(fields, signature: signature))
        }

        func authenticator(publicURL: String = publicURL, tokens: [String] = ["12345"]) throws -> TwilioSignatureAuthenticator {
            try TwilioSignatureAuthenticator(config: .init(authTokens: tokens), channel: ChannelAuthContext(publicURL: publicURL))
        }

        func post(_ fields: [(String, String)], uri: String = "/v1/webhooks/acme/twilio", signature: String?) -> WebhookRequest {
            var headers = ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"]
            headers["X-Twilio-Signature"] = signature
            return WebhookRequest(method: .post, uri: uri, headers: headers, body: Array(FormFixture.encode(fields).utf8))
        }

        /// Before the form is read, only a missing signature or one of the wrong length is refused.
        @Test func theHeadIsRefusedWithoutASignatureOfTheRightLength() throws {
            for signature in [nil, "", "short", String(repeating: "A", count: 29)] {
                #expect(throws: WebhookRejection.self) { try authenticator().authenticateHead(post([], signature: signature)) }
            }
            try authenticator().authenticateHead(post([], signature: String(repeating: "A", count: 27) + "="))
        }

        /// Twilio signs the URL it called, query included, and the sorted decoded parameters:
        /// the gateway sees `http://127.0.0.1…` behind its proxy, so only `public_url` works.
        @Test func requestSignedForThePublicURLWithQueryIsAccepted() throws {
            let fields = [("Body", "Héllo + bye & co"), ("MessageSid", "SM1"), ("From", "whatsapp:+14155550199"), ("NumMedia", "0"), ("Empty", "")]
            let signed = TwilioSignature.compute(url: "https://host.example/path?x=1", parameters: fields, authToken: "12345")
            let auth = try authenticator(publicURL: "https://host.example/path")
            try auth.authenticate(post(fields, uri: "/path?x=1", signature: signed))
            // Twilio may sign with or without the default port.
            let withPort = TwilioSignature.compute(url: "https://host.example:443/path?x=1", parameters: fields, authToken: "12345")
            try auth.authenticate(post(fields, uri: "/path?x=1", signature: withPort))
            // A configured URL with the port accepts the signature without it, as twilio-python does.
            try authenticator(publicURL: "https://host.example:443/path").authenticate(post(fields, uri: "/path?x=1", signature: signed))
        }

        /// A connection override (`#rc=3&rp=all`) in the URL entered in Twilio never reaches
        /// the gateway; the query received goes before it, signed with or without it. A
        /// configured URL with a query accepts a request signed with another query (a
        /// per-message StatusCallback) as received.
        @Test func fragmentsAndQueriesOfThePublicURL() throws {
            let fields = Self.statusFields
            let overrides = try authenticator(publicURL: Self.publicURL + "#rc=3&rp=all")
            for url in [Self.publicURL + "?ref=1", Self.publicURL + "?ref=1#rc=3&rp=all"] {
                let signed = TwilioSignature.compute(url: url, parameters: fields, authToken: "12345")
                try overrides.authenticate(post(fields, uri: "/v1/webhooks/acme/twilio?ref=1", signature: signed))
            }
            let withQuery = try authenticator(publicURL: Self.publicURL + "?source=x")
            for query in ["?source=x", "?source=y"] {
                let signed = TwilioSignature.compute(url: Self.publicURL + query, parameters: fields, authToken: "12345")
                try withQuery.authenticate(post(fields, uri: "/v1/webhooks/acme/twilio" + query, signature: signed))
            }
            // The configured URL as written is accepted even if a proxy dropped its query (as
            // before); a signature over a third query is not.
            let configured = TwilioSignature.compute(url: Self.publicURL + "?source=x", parameters: fields, authToken: "12345")
            try withQuery.authenticate(post(fields, uri: "/v1/webhooks/acme/twilio", signature: configured))
            let other = TwilioSignature.compute(url: Self.publicURL + "?source=z", parameters: fields, authToken: "12345")
            #expect(throws: WebhookRejection.self) {
                try withQuery.authenticate(post(fields, uri: "/v1/webhooks/acme/twilio?source=y", signature: other))
            }
        }

        @Test func anyChangeIsRefused() throws {
            let fields = Self.statusFields
            let signed = TwilioSignature.compute(url: Self.publicURL + "?x=1", parameters: fields, authToken: "12345")
            let auth = try authenticator()
            try auth.authenticate(post(fields, uri: "/v1/webhooks/acme/twilio?x=1", signature: signed))
            let refused: [WebhookRequest] = [
                post(fields, uri: "/v1/webhooks/acme/twilio?x=2", signature: signed),  // other query
                post(fields, uri: "/v1/webhooks/acme/twilio", signature: signed),  // query dropped
                post(fields + [("Extra", "1")], uri: "/v1/webhooks/acme/twilio?x=1", signature: signed),  // extra field
                post(fields.map { $0.0 == "MessageStatus" ? ($0.0, "failed") : $0 }, uri: "/v1/webhooks/acme/twilio?x=1", signature: signed),
                post(fields, uri: "/v1/webhooks/acme/twilio?x=1", signature: nil),
                post(fields, uri: "/v1/webhooks/acme/twilio?x=1", signature: "not-base64"),
            ]
            for request in refused {
                let error = #expect(throws: WebhookRejection.self) { try auth.authenticate(request) }
                #expect(error?.status == 401)
            }
            // Signed with another account's token.
            #expect(throws: WebhookRejection.self) {
                try authenticator(tokens: ["other-token"]).authenticate(post(fields, uri: "/v1/webhooks/acme/twilio?x=1", signature: signed))
            }
            // During a rotation both tokens are accepted.
            try authenticator(tokens: ["new-token", "12345"]).authenticate(post(fields, uri: "/v1/webhooks/acme/twilio?x=1", signature: signed))
        }

        @Test func repeatedParametersAreSortedByValue() throws {
            let fields = [("MediaUrl", "b"), ("MediaUrl", "a"), ("MessageSid", "SM1"), ("MediaUrl", "a")]
            let string = Self.publicURL + "MediaUrlaMediaUrlaMediaUrlbMessageSidSM1"
            let expected = TwilioSignature.compute(url: string, parameters: [], authToken: "12345")
            #expect(TwilioSignature.compute(url: Self.publicURL, parameters: fields, authToken: "12345") == expected)
            try authenticator().authenticate(post(fields, signature: expected))
            // Newer libraries count a repeated value once.
            let distinct = TwilioSignature.compute(url: Self.publicURL + "MediaUrlaMediaUrlbMessageSidSM1", parameters: [], authToken: "12345")
            try authenticator().authenticate(post(fields, signature: distinct))
        }

        /// The adapter reads a body without a Content-Type as form fields, so the signature
        /// must cover them: one over the URL alone does not vouch for that body.
        @Test func aBodyWithoutContentTypeIsSignedAsAForm() throws {
            func request(signature: String) -> WebhookRequest {
                WebhookRequest(
                    method: .post, uri: "/v1/webhooks/acme/twilio", headers: ["X-Twilio-Signature": signature],
                    body: Array(FormFixture.encode(Self.statusFields).utf8))
            }
            let urlOnly = TwilioSignature.compute(url: Self.publicURL, parameters: [], authToken: "12345")
            let error = #expect(throws: WebhookRejection.self) { try authenticator().authenticate(request(signature: urlOnly)) }
            #expect(error?.status == 401)
            let withFields = TwilioSignature.compute(url: Self.publicURL, parameters: Self.statusFields, authToken: "12345")
            try authenticator().authenticate(request(signature: withFields))
        }

        @Test func jsonBodiesAreCheckedThroughBodySHA256() throws {
            let body = Array(#"{"a":1}"#.utf8)
            let hash = "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
            let url = Self.publicURL + "?bodySHA256=" + hash
            let signature = TwilioSignature.compute(url: url, parameters: [], authToken: "12345")
            func request(_ body: [UInt8]) -> WebhookRequest {
                WebhookRequest(
                    method: .post, uri: "/v1/webhooks/acme/twilio?bodySHA256=" + hash,
                    headers: ["Content-Type": "application/json", "X-Twilio-Signature": signature],
                    query: ["bodySHA256": hash], body: body)
            }
            try authenticator().authenticate(request(body))
            #expect(throws: WebhookRejection.self) { try authenticator().authenticate(request(Array(#"{"a":2}"#.utf8))) }
            // Without bodySHA256 the signature covers the URL alone, not this body.
            let unsigned = WebhookRequest(
                method: .post, uri: "/v1/webhooks/acme/twilio", headers: ["Content-Type": "application/json",
                "X-Twilio-Signature": TwilioSignature.compute(url: Self.publicURL, parameters: [], authToken: "12345")], body: body)
            let error = #expect(throws: WebhookRejection.self) { try authenticator().authenticate(unsigned) }
            #expect(error?.message.contains("not covered") == true)
        }

        /// A bad signature costs little whatever the body: a form of half a million fields
        /// was sorted for every token and URL variant, on the event loop, for anyone.
        @Test func hugeFormsAndMalformedSignaturesAreRefusedCheaply() throws {
            let fields = (0..<(TwilioSignatureAuthenticator.mostFormFields + 1)).map { ("a\($0)", "") }
            let signature = TwilioSignature.compute(url: Self.publicURL, parameters: fields, authToken: "12345")
            let error = #expect(throws: WebhookRejection.self) { try authenticator().authenticate(post(fields, signature: signature)) }
            #expect(error?.status == 401 && error?.message.contains("form fields") == true)
            // Within the bound, a correctly signed form of many fields is accepted.
            let many = Array(fields.prefix(TwilioSignatureAuthenticator.mostFormFields))
            try authenticator().authenticate(post(many, signature: TwilioSignature.compute(url: Self.publicURL, parameters: many, authToken: "12345")))
            // Empty fields (`a&&b`) are not fields: counted as the form reads them.
            #expect(FormBody.fieldCount(Array("&a=1&&b&".utf8)) == FormBody(Array("&a=1&&b&".utf8))?.pairs.count)
            // A large value was hashed for every token and URL variant: a form past
            // `mostFormBytes` is refused, signed or not.
            let big = [("Body", String(repeating: "x", count: TwilioSignatureAuthenticator.mostFormBytes))]
            let tooBig = #expect(throws: WebhookRejection.self) {
                try authenticator().authenticate(post(big, signature: TwilioSignature.compute(url: Self.publicURL, parameters: big, authToken: "12345")))
            }
            #expect(tooBig?.status == 401 && tooBig?.message.contains("bytes") == true)
        }

        @Test func publicURLIsRequired() {
            #expect(throws: ConfigIssue.self) {
                try TwilioSignatureAuthenticator(config: .init(authTokens: ["12345"]), channel: ChannelAuthContext(publicURL: nil))
            }
            #expect(throws: ConfigIssue.self) {
                try TwilioSignatureAuthenticator(config: .init(authTokens: ["12345"]), channel: ChannelAuthContext(publicURL: "tickwire.example.org/x"))
            }
        }

        @Test func urlVariantsAddOrRemoveTheDefaultPort() {
            #expect(TwilioSignature.urlVariants("https://h.example/p?q=1") == ["https://h.example/p?q=1", "https://h.example:443/p?q=1"])
            #expect(TwilioSignature.urlVariants("http://h.example:80/p") == ["http://h.example/p", "http://h.example:80/p"])
            #expect(TwilioSignature.urlVariants("https://u:p@h.example:8443") == ["https://u:p@h.example", "https://u:p@h.example:8443"])
        }
    }
}
