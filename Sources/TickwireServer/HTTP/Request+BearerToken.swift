import Hummingbird
import TickwireCore

extension Request {
    /// The token of `Authorization: Bearer <token>`, if the request has one.
    var bearerToken: String? {
        headers[.authorization].flatMap { value in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
        }
    }
}
