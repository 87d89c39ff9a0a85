import HTTPTypes
import TickwireCore

extension HTTPFields {
    /// The first value of a field. `self[name]` joins repeated fields through lazy
    /// sequences, which showed in the ingest profile for the two lookups every webhook makes.
    func first(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }

    /// Whether a `Connection` field lists `close` (RFC 9110 §7.6.1: a comma-separated list,
    /// case-insensitive).
    var asksToClose: Bool {
        for field in self where field.name == .connection {
            for option in field.value.utf8.split(separator: UInt8(ascii: ",")) {
                if String(decoding: option.trimmingASCIIWhitespace, as: UTF8.self).lowercased() == "close" { return true }
            }
        }
        return false
    }
}
