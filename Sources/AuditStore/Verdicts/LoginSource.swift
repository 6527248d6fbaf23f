import Foundation

/// Where a login came from, as the verdicts compare it: an address's network of the configured
/// prefix (`203.0.113.0/24`, `2001:db8:1:2::/64`), or the address itself at a full-length prefix.
/// An IPv4 address written in IPv6's mapped form (`::ffff:203.0.113.7`) is an IPv4 address; a
/// value that is no IP address (a host name) is its own source.
struct LoginSource: Hashable {
    /// The source as printed in reasons.
    let text: String
    /// A 64-bit FNV-1a digest of ``text``: what the judge remembers of a learned source, so that
    /// an account's sources cost eight bytes each however long their text.
    let digest: UInt64

    init(address: String, ipv4Prefix: Int, ipv6Prefix: Int) {
        var v6 = in6_addr()
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            text = Self.network(bytes: withUnsafeBytes(of: v4) { Array($0) }, prefix: ipv4Prefix)
        } else if inet_pton(AF_INET6, address, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                text = Self.network(bytes: Array(bytes[12...]), prefix: ipv4Prefix)
            } else {
                text = Self.network(bytes: bytes, prefix: ipv6Prefix)
            }
        } else {
            text = address
        }
        digest = Self.fnv1a(text)
    }

    /// The network of `prefix` bits around the address `bytes` (4 or 16 of them), as text.
    private static func network(bytes: [UInt8], prefix: Int) -> String {
        let bits = bytes.count * 8
        var masked = bytes
        for index in masked.indices {
            let kept = max(0, min(8, prefix - index * 8))
            masked[index] &= kept == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - kept))
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let printed = masked.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        let address = printed.map { _ in String(decoding: buffer.prefix { $0 != 0 }.map(UInt8.init), as: UTF8.self) }
        return prefix >= bits ? address ?? "" : "\(address ?? "")/\(prefix)"
    }

    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}

/// The sources of recent addresses, remembered: most events come from addresses seen a moment
/// before, and looking one up costs less than parsing and printing it again. At most ``capacity``
/// are kept; all are forgotten when it fills.
struct LoginSources {
    let ipv4Prefix: Int
    let ipv6Prefix: Int
    static let capacity = 4096
    private var known: [String: LoginSource] = [:]

    init(ipv4Prefix: Int, ipv6Prefix: Int) {
        self.ipv4Prefix = ipv4Prefix
        self.ipv6Prefix = ipv6Prefix
    }

    mutating func source(of address: String) -> LoginSource {
        if let source = known[address] { return source }
        if known.count >= Self.capacity { known.removeAll(keepingCapacity: true) }
        let source = LoginSource(address: address, ipv4Prefix: ipv4Prefix, ipv6Prefix: ipv6Prefix)
        known[address] = source
        return source
    }
}
