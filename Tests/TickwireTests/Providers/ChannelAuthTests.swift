import Foundation
import Testing
import TickwireCore
@testable import TickwireProviders

extension Providers {
    @Suite("Token, basic and none auth")
    struct ChannelAuthTests {
        static let secret = "s3cret-token-0123456789"

        func request(query: [String: String] = [:], headers: [String: String] = [:]) -> WebhookRequest {
            WebhookRequest(method: .post, uri: "/v1/webhooks/acme/gs", headers: headers, query: query, body: Array("{}".utf8))
        }

        func token(header: String? = nil) throws -> TokenAuthenticator {
            try TokenAuthenticator(config: .init(token: Self.secret, header: header), channel: ChannelAuthContext(publicURL: nil))
        }

        @Test func tokenIsAcceptedFromQueryBearerOrConfiguredHeader() throws {
            let auth = try token(header: "X-Webhook-Token")
            try auth.authenticate(request(query: ["token": Self.secret]))
            try auth.authenticate(request(headers: ["Authorization": "Bearer \(Self.secret)"]))
            try auth.authenticate(request(headers: ["authorization": "bearer  \(Self.secret) "]))
            try auth.authenticate(request(headers: ["x-webhook-token": Self.secret]))
            // A wrong value in one place does not hide the right one in another.
            try auth.authenticate(request(query: ["token": "nope"], headers: ["X-Webhook-Token": Self.secret]))
        }

        @Test func wrongOrMissingTokenIs401WithoutTheSecret() throws {
            let auth = try token()
            let refusals: [WebhookRequest] = [
                request(),
                request(query: ["token": "s3cret-token-012345678"]),
                request(query: ["token": Self.secret + "x"]),
                request(headers: ["Authorization": "Basic \(Self.secret)"]),
                request(headers: ["X-Webhook-Token": Self.secret]),  // header not configured
            ]
            for candidate in refusals {
                let error = #expect(throws: WebhookRejection.self) { try auth.authenticate(candidate) }
                #expect(error?.status == 401)
                #expect(error.map { !"\($0)".contains(Self.secret) } ?? false)
                // The token needs no body: refused from the head, before a body is read.
                #expect(throws: WebhookRejection.self) { try auth.authenticateHead(candidate) }
            }
            try auth.authenticateHead(request(query: ["token": Self.secret]))
            #expect(!auth.checksBody, "the head check is the whole check: ingest does not run it twice")
        }

        @Test func basicAuthChecksUserAndPassword() throws {
            let auth = try BasicAuthenticator(
                config: .init(username: "unifonic", password: "correct horse battery"), channel: ChannelAuthContext(publicURL: nil))
            func basic(_ text: String) -> WebhookRequest {
                request(headers: ["Authorization": "Basic " + Data(text.utf8).base64EncodedString()])
            }
            try auth.authenticate(basic("unifonic:correct horse battery"))
            for wrong in [basic("unifonic:correct horse batter"), basic("other:correct horse battery"), basic("unifonic"), request(),
                          request(headers: ["Authorization": "Basic !!!"]), request(headers: ["Authorization": "Bearer x"])] {
                #expect(throws: WebhookRejection.unauthorized("missing or wrong basic credentials")) { try auth.authenticate(wrong) }
                #expect(throws: WebhookRejection.self) { try auth.authenticateHead(wrong) }
            }
            try auth.authenticateHead(basic("unifonic:correct horse battery"))
        }

        @Test func noneAcceptsEverythingAndHasNoHandshake() throws {
            let auth = try NoAuthenticator(config: NoOptions(), channel: ChannelAuthContext(publicURL: nil))
            try auth.authenticate(request())
            #expect(auth.handshake(request()) == nil)
        }
    }
}
