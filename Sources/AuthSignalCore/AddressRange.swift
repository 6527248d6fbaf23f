import Foundation

/// An IP network written as CIDR (`203.0.113.0/24`, `2001:db8::/32`) or a single address: what
/// alert rules match sources against. An IPv4 address in IPv6's mapped form
/// (`::ffff:203.0.113.7`) is matched as the IPv4 address it is.
package struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16), host bits cleared.
    private let network: [UInt8]
    /// The prefix length in bits.
    private let prefix: Int
    /// The range as written.
    package let description: String

    /// Reads `203.0.113.0/24`, `2001:db8::/32` or a single address; `nil` for anything else
    /// (host bits set below the prefix are cleared, as `ip route` does).
    package init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let bytes = Self.bytes(of: String(parts[0])) else { return nil }
        let bits = bytes.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard parts[1].allSatisfy(\.isWholeNumber), parts[1].allSatisfy(\.isASCII), let length = Int(parts[1]),
                (0...bits).contains(length)
            else {
                return nil
            }
            prefix = length
        }
        network = Self.masked(bytes, prefix: prefix)
        self.prefix = prefix
        description = text
    }

    /// Whether `address` (an IP address as text) lies in the range; a host name never does.
    package func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address), bytes.count == network.count else { return false }
        return Self.masked(bytes, prefix: prefix) == network
    }

    /// The address's bytes: 4 for IPv4 (mapped IPv6 included), 16 for IPv6.
    private static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return Array(bytes[12...])
        }
        return bytes
    }

    private static func masked(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        var masked = bytes
        for index in masked.indices {
            let kept = max(0, min(8, prefix - index * 8))
            masked[index] &= kept == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - kept))
        }
        return masked
    }
}
