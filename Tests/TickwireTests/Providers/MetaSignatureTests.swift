import Crypto
import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Meta signature and handshake")
    struct MetaSignatureTests {
        static let appSecret = "0123456789abcdef0123456789abcdef"
        let auth: MetaSignatureAuthenticator

        init() throws {
            auth = try MetaSignatureAuthenticator(
                config: .init(appSecrets: ["old-secret-rotated-out", Self.appSecret], verifyToken: "verify-me-please"),
                channel: ChannelAuthContext(publicURL: nil))
        }

        /// The header as Meta computes it: `sha256=` + lowercase hex HMAC-SHA256 of the bytes sent.
        static func sign(_ body: [UInt8], secret: String = appSecret) -> String {
            let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
            return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        }

        func post(_ body: [UInt8], signature: String?) -> WebhookRequest {
            var headers = ["Content-Type": "application/json"]
            headers["X-Hub-Signature-256"] = signature
            return WebhookRequest(method: .post, uri: "/v1/webhooks/acme/meta", headers: headers, body: body)
        }

        /// Meta sends non-ASCII text escaped (`\u0645`); the same JSON re-serialized is other bytes.
        static let body = Array(#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"966500000001","id":"wamid.1","timestamp":"1700000000","type":"text","text":{"body":"\u0645\u0631\u062d\u0628\u0627 \ud83d\udc4b"}}]}}]}]}"#.utf8)

        @Test func rawBodySignatureIsAccepted() throws {
            try auth.authenticate(post(Self.body, signature: Self.sign(Self.body)))
            try auth.authenticate(post(Self.body, signature: Self.sign(Self.body).uppercased().replacingOccurrences(of: "SHA256=", with: "sha256=")))
        }

        @Test func reserializedBodyFailsVerification() throws {
            let parsed = try JSONValue.parse(Self.body)
            let reserialized = Array(parsed.serialized())
            #expect(reserialized != Self.body)
            // Signed over the original bytes, posted with the re-serialized ones: refused.
            let error = #expect(throws: WebhookRejection.self) { try auth.authenticate(post(reserialized, signature: Self.sign(Self.body))) }
            #expect(error?.status == 401)
            // And the adapter still reads the original bytes to the same text.
            let events = try MetaAdapter(config: NoOptions()).normalize(post(Self.body, signature: nil), channel: Golden.channel("meta"))
            #expect(events.first?.data["message"]?["text"] == "مرحبا 👋")
        }

        @Test func missingMalformedOrWrongSignatureIs401() {
            for signature in [nil, "", "sha256=", "sha1=abcd", "sha256=zz", "sha256=" + String(repeating: "0", count: 64),
                              Self.sign(Self.body, secret: "another-app-secret")] {
                let error = #expect(throws: WebhookRejection.self) { try auth.authenticate(post(Self.body, signature: signature)) }
                #expect(error?.status == 401)
                #expect(error.map { !"\($0)".contains(Self.appSecret) } ?? false)
            }
        }

        /// Before the body is read, a request is refused only for what no body could mend: a
        /// missing or malformed header (a digest of another length included).
        @Test func theHeadIsRefusedWithoutAWellFormedSignature() throws {
            for signature in [nil, "", "sha256=", "sha1=abcd", "sha256=zz", "sha256=" + String(repeating: "0", count: 62)] {
                #expect(throws: WebhookRejection.self) { try auth.authenticateHead(post([], signature: signature)) }
            }
            // A well-formed signature waits for the body it signs.
            try auth.authenticateHead(post([], signature: Self.sign(Self.body)))
            try auth.authenticateHead(post([], signature: "sha256=" + String(repeating: "0", count: 64)))
            #expect(auth.checksBody)
        }

        /// The authenticator keeps one keyed HMAC per secret and copies it per webhook: no
        /// webhook may leave state behind for the next, from any thread.
        @Test func oneAuthenticatorChecksManyBodiesInAnyOrder() async throws {
            let bodies = (0..<40).map { Array("{\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: $0 * 7))\"}".utf8) }
            for (n, body) in bodies.enumerated() {
                let secret = n % 2 == 0 ? Self.appSecret : "old-secret-rotated-out"
                try auth.authenticate(post(body, signature: Self.sign(body, secret: secret)))
                // The previous body's signature on this body is refused.
                if n > 0 {
                    #expect(throws: WebhookRejection.self) { try auth.authenticate(post(body, signature: Self.sign(bodies[n - 1]))) }
                }
            }
            let shared = auth
            @Sendable func request(_ body: [UInt8], _ signature: String) -> WebhookRequest {
                WebhookRequest(method: .post, uri: "/v1/webhooks/acme/meta", headers: ["X-Hub-Signature-256": signature], body: body)
            }
            let accepted = await withTaskGroup(of: Bool.self) { group in
                for body in bodies {
                    group.addTask { (try? shared.authenticate(request(body, Self.sign(body)))) != nil }
                    group.addTask { (try? shared.authenticate(request(body, Self.sign(body + [0x20])))) == nil }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(accepted == bodies.count * 2)
        }

        func get(_ query: [String: String]) -> WebhookRequest {
            WebhookRequest(method: .get, uri: "/v1/webhooks/acme/meta", headers: [:], query: query, body: [])
        }

        @Test func handshakeEchoesTheChallengeOnlyForTheRightToken() {
            let ok = auth.handshake(get(["hub.mode": "subscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1158201444"]))
            #expect(ok == .text("1158201444"))
            #expect(ok?.contentType.hasPrefix("text/plain") == true)
            for query in [
                ["hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"],
                ["hub.mode": "unsubscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1"],
                ["hub.verify_token": "verify-me-please", "hub.challenge": "1"],
                ["hub.mode": "subscribe", "hub.verify_token": "verify-me-please"],
                [:],
            ] {
                #expect(auth.handshake(get(query))?.status == 403)
            }
        }
    }
}
