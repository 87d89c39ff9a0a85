import Crypto
import Foundation
import TickwireCore

/// Twilio's request signature, computed as its helper libraries do (twilio.md §1; twilio-python
/// `RequestValidator.compute_signature`): Base64(HMAC-SHA1(auth token, URL + for each
/// parameter name in sorted order, each of its values in sorted order: name + value)).
enum TwilioSignature {
    static func compute(url: String, parameters: [(name: String, value: String)], authToken: String, distinctValues: Bool = false) -> String {
        compute(url: url, signedParameters: signedParameters(parameters, distinctValues: distinctValues), authToken: authToken)
    }

    /// What follows the URL in the signed text: built once per request, however many tokens
    /// and URL variants are tried (sorting is most of the cost for a large form).
    static func signedParameters(_ parameters: [(name: String, value: String)], distinctValues: Bool) -> String {
        var text = ""
        var grouped: [String: [String]] = [:]
        for (name, value) in parameters { grouped[name, default: []].append(value) }
        for name in grouped.keys.sorted(by: codePointOrder) {
            var values = grouped[name] ?? []
            if distinctValues { values = Array(Set(values)) }
            for value in values.sorted(by: codePointOrder) { text += name + value }
        }
        return text
    }

    static func compute(url: String, signedParameters: String, authToken: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array((url + signedParameters).utf8), using: SymmetricKey(data: Array(authToken.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Python sorts strings by code point; Swift's `<` on String follows Unicode collation
    /// rules that can differ for non-ASCII text.
    static func codePointOrder(_ lhs: String, _ rhs: String) -> Bool {
        lhs.unicodeScalars.lexicographicallyPrecedes(rhs.unicodeScalars) { $0.value < $1.value }
    }

    /// The URL as configured, and the same with the default port added or removed: Twilio is
    /// not consistent about ports, so its libraries accept either.
    static func urlVariants(_ url: String) -> [String] {
        guard let schemeEnd = url.range(of: "://") else { return [url] }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let prefix = url[..<schemeEnd.upperBound] + authority[..<hostStart]
        let hostPort = authority[hostStart...]
        let host: Substring
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            host = hostPort[..<colon]
        } else {
            host = hostPort
        }
        let withoutPort = prefix + host + tail
        let withPort = hostPort == host ? prefix + host + ":\(scheme == "https" ? 443 : 80)" + tail : url
        return withoutPort == url ? [url, String(withPort)] : [String(withoutPort), url]
    }
}
