/// Comparisons of secrets that take the same time whatever the inputs share, so that a
/// caller cannot learn a token byte by byte from response times.
public enum ConstantTime {
    public static func equals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        // Length differences leak only the length, which is not secret for our tokens;
        // still walk the longer input so timing does not depend on where they differ.
        var difference: UInt8 = lhs.count == rhs.count ? 0 : 1
        let left = Array(lhs), right = Array(rhs)
        let length = max(left.count, right.count)
        for i in 0..<length {
            let a = i < left.count ? left[i] : 0
            let b = i < right.count ? right[i] : 0
            difference |= a ^ b
        }
        return difference == 0
    }

    public static func equals(_ lhs: String, _ rhs: String) -> Bool {
        equals(Array(lhs.utf8), Array(rhs.utf8))
    }
}
