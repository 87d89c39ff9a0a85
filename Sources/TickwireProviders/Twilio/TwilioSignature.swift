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
    ///
    /// Names and values are told apart and ordered by their code points, as Python's `str`
    /// does: Swift's `String` holds canonically equivalent text equal (a composed `é` and
    /// `e` + U+0301), so a dictionary or set keyed by it merged two names that Twilio signs
    /// apart. UTF-8's byte order is code point order.
    static func signedParameters(_ parameters: [(name: String, value: String)], distinctValues: Bool) -> String {
        var text = ""
        var grouped: [[UInt8]: (name: String, values: [String])] = [:]
        for (name, value) in parameters { grouped[Array(name.utf8), default: (name, [])].values.append(value) }
        for key in grouped.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let (name, all) = grouped[key]!
            var values = all
            if distinctValues {
                var seen = Set<[UInt8]>()
                values = all.filter { seen.insert(Array($0.utf8)).inserted }
            }
            for value in values.sorted(by: codePointOrder) { text += name + value }
        }
        return text
    }

    static func compute(url: String, signedParameters: String, authToken: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array((url + signedParameters).utf8), using: SymmetricKey(data: Array(authToken.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Python sorts strings by code point; Swift's `<` on String follows Unicode's canonical
    /// equivalence, and differs for non-ASCII text.
    static func codePointOrder(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
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
