/// Lower-case hexadecimal, as the audit log writes hashes and keyed hashes.
package enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Appends the hexadecimal digits of `bytes` to `output`.
    package static func append(_ bytes: some Sequence<UInt8>, to output: inout [UInt8]) {
        // Contiguous bytes (every hash) are read directly rather than through the sequence's
        // iterator: from another module this function runs unspecialised.
        if bytes.withContiguousStorageIfAvailable({ appendContiguous($0, to: &output) }) != nil { return }
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0xF)])
        }
    }

    private static func appendContiguous(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        output.reserveCapacity(output.count + bytes.count * 2)
        digits.withUnsafeBufferPointer { digits in
            for byte in bytes {
                output.append(digits[Int(byte >> 4)])
                output.append(digits[Int(byte & 0xF)])
            }
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

extension Hex {
    /// The bytes `text` spells in hexadecimal (either case), or `nil` when it is not an even
    /// number of hexadecimal digits.
    package static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = value(characters[index]), let low = value(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
