import TickwireCore

/// Auth options that take one secret or, while it is rotated, a list of them
/// (`app_secret` / `app_secrets`, `auth_token` / `auth_tokens`).
enum SecretList {
    static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, one: Key, many: Key) throws -> [String] {
        let single = try container.decodeSecretIfPresent(String.self, forKey: one)
        let list = try container.decodeSecretIfPresent([String].self, forKey: many)
        let secrets: [String]
        switch (single, list) {
        case (let secret?, nil): secrets = [secret]
        case (nil, let list?): secrets = list
        case (nil, nil): throw ConfigIssue("\(one.stringValue): required (or \(many.stringValue), a list, while rotating)")
        case (_?, _?): throw ConfigIssue("\(one.stringValue) and \(many.stringValue): write one of them, not both")
        }
        // The messages name keys only: the values are secrets.
        guard !secrets.isEmpty else { throw ConfigIssue("\(many.stringValue): at least one is required") }
        guard secrets.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigIssue("\(single == nil ? many.stringValue : one.stringValue): must be non-empty")
        }
        return secrets
    }
}
