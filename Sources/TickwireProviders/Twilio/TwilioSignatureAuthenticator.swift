import Crypto
import TickwireCore

/// `auth: {type: twilio, auth_token: "…"}` with the channel's `public_url`: checks
/// `X-Twilio-Signature` over the URL Twilio called (the configured public URL plus the query
/// as received) and every form parameter (twilio.md §1).
public struct TwilioSignatureAuthenticator: ChannelAuthenticator {
    public struct Config: Decodable, Sendable {
        /// The account's Auth Tokens: `auth_token`, or `auth_tokens` during a rotation.
        public var authTokens: [String]

        enum CodingKeys: String, CodingKey {
            case authToken = "auth_token"
            case authTokens = "auth_tokens"
        }

        public init(authTokens: [String]) {
            self.authTokens = authTokens
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            authTokens = try SecretList.decode(c, one: .authToken, many: .authTokens)
        }
    }

    public static let name = "twilio"

    let authTokens: [String]
    let publicURL: String

    public init(config: Config, channel: ChannelAuthContext) throws(ConfigIssue) {
        guard let url = channel.publicURL, url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw ConfigIssue(
                "auth type twilio needs the channel's public_url: the exact URL entered in Twilio's console, "
                    + "e.g. https://gw.example.org/v1/webhooks/acme/twilio")
        }
        authTokens = config.authTokens
        publicURL = url
    }

    public func authenticate(_ request: WebhookRequest) throws(WebhookRejection) {
        let signature = try Self.signature(in: request)
        var parameters: [(name: String, value: String)] = []
        // Without a Content-Type the adapter still reads the body as form fields: they must be
        // signed too, or a signature over the bare URL would carry any body.
        let mediaType = request.mediaType
        if mediaType == "application/x-www-form-urlencoded" || (mediaType == nil && !request.body.isEmpty) {
            // Twilio's callbacks are a few KB in a few dozen fields. Sized and counted before
            // the form is decoded, on the event loop, for anyone with a 28-character header: a
            // 4 MiB body of `a&a&…` was two million strings, and a large value was hashed for
            // every token and URL variant.
            guard request.body.count <= Self.mostFormBytes else {
                throw .unauthorized("a form body over \(Self.mostFormBytes) bytes: not a Twilio callback")
            }
            guard FormBody.fieldCount(request.body) <= Self.mostFormFields else {
                throw .unauthorized("more than \(Self.mostFormFields) form fields: not a Twilio callback")
            }
            guard let form = FormBody(request.body) else { throw .unauthorized("X-Twilio-Signature does not match the request") }
            parameters = form.pairs
        } else if let bodyHash = request.query["bodySHA256"] {
            // JSON-bodied webhooks sign the URL only, and put the body's hash in the URL.
            guard ConstantTime.equals(Array(Hex.encode(SHA256.hash(data: request.body)).utf8), Array(bodyHash.lowercased().utf8)) else {
                throw .unauthorized("bodySHA256 does not match the body")
            }
        } else if !request.body.isEmpty {
            // Twilio signs any other body through bodySHA256 in the URL: without it, a
            // signature over the URL alone would carry any body.
            throw .unauthorized("the body is not covered by the signature (no bodySHA256)")
        }
        guard matches(signature, urls: signedURLs(request), parameters: parameters) else {
            throw .unauthorized("X-Twilio-Signature does not match the request")
        }
    }

    /// A request without a signature of the right length is refused before its body is read.
    public func authenticateHead(_ request: WebhookRequest) throws(WebhookRejection) {
        _ = try Self.signature(in: request)
    }

    private static func signature(in request: WebhookRequest) throws(WebhookRejection) -> String {
        guard let signature = request.header("x-twilio-signature")?.trimmingASCIIWhitespace, !signature.isEmpty else {
            throw .unauthorized("missing X-Twilio-Signature header")
        }
        // An HMAC-SHA1 in Base64 is 28 characters: anything else cannot match, and is refused
        // before the form is read and sorted (the costly part, on the event loop, for anyone).
        guard signature.utf8.count == 28 else { throw .unauthorized("X-Twilio-Signature does not match the request") }
        return signature
    }

    /// The URLs Twilio may have signed: the configured public URL with the query of the
    /// request as received (byte for byte), and the configured URL as written when it has
    /// a query of its own (a per-message StatusCallback with another query is signed with
    /// that one). A fragment (a connection override, `#rc=3&rp=all`) is never sent, and
    /// whether Twilio signs it is not documented (twilio.md §1): each with and without it.
    func signedURLs(_ request: WebhookRequest) -> [String] {
        let (configured, fragment) = publicURL.firstIndex(of: "#").map { (publicURL[..<$0], publicURL[$0...]) } ?? (publicURL[...], nil)
        let withoutQuery = configured.prefix { $0 != "?" }
        let received = request.uri.firstIndex(of: "?").map { request.uri[$0...] } ?? ""
        var urls = [String(withoutQuery + received)]
        if configured.contains("?"), configured != urls[0] { urls.append(String(configured)) }
        if let fragment { urls += urls.map { $0 + fragment } }
        return urls
    }

    static let mostFormFields = 1000
    /// A WhatsApp message of 4096 emoji is about 49 KB percent-encoded: room to spare.
    static let mostFormBytes = 128 * 1024

    private func matches(_ signature: String, urls: [String], parameters: [(name: String, value: String)]) -> Bool {
        // Older libraries sign repeated values as sent, newer ones once each: accept both.
        let hasRepeats = Set(parameters.map { "\($0.name)=\($0.value)" }).count != parameters.count
        let signedParameters = (hasRepeats ? [false, true] : [false]).map {
            TwilioSignature.signedParameters(parameters, distinctValues: $0)
        }
        let candidates = urls.flatMap(TwilioSignature.urlVariants)
        var valid = false
        for token in authTokens {
            for candidate in candidates {
                for signed in signedParameters {
                    let expected = TwilioSignature.compute(url: candidate, signedParameters: signed, authToken: token)
                    valid = ConstantTime.equals(expected, signature) || valid
                }
            }
        }
        return valid
    }
}
