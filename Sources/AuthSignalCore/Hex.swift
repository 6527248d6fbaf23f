/// Lower-case hexadecimal, as the audit log writes hashes and keyed hashes.
package enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Appends the hexadecimal digits of `bytes` to `output`.
    package static func append(_ bytes: some Sequence<UInt8>, to output: inout [UInt8]) {
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0xF)])
        }
    }

    /// The hexadecimal digits of `bytes`.
    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        append(bytes, to: &text)
        return String(decoding: text, as: UTF8.self)
    }
}
