/// A strict JSON parser for protocol frames (RFC 8259), stricter than Foundation's in what a
/// hostile peer could exploit: it refuses invalid UTF-8, duplicate object keys, nesting deeper
/// than a limit, NUL characters (raw or escaped) and numbers outside the range of a `Double`.
/// Its error messages give a byte offset and never quote the input, which may hold secrets.
public struct JSONParser {
    /// How deep objects and arrays may nest.
    public static let defaultMaximumDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private let maximumDepth: Int
    private let allowsNUL: Bool
    private var index = 0

    private init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int, allowsNUL: Bool) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
        self.allowsNUL = allowsNUL
    }

    /// Parses exactly one JSON value from `bytes` (surrounding whitespace allowed).
    /// - Parameters:
    ///   - bytes: the UTF-8 text.
    ///   - maximumDepth: the deepest nesting of arrays and objects accepted.
    ///   - allowsNUL: accept `\u0000` in strings (for trusted, stored JSON; a raw NUL byte is
    ///     never valid JSON).
    public static func parse(
        _ bytes: some Collection<UInt8>, maximumDepth: Int = defaultMaximumDepth, allowsNUL: Bool = false
    ) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth, allowsNUL: allowsNUL)
            return Result { () throws(JSONParseError) in try parser.parseDocument() }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth, allowsNUL: allowsNUL)
            return try parser.parseDocument()
        }
    }

    /// Whether `bytes` hold exactly one JSON object (surrounding whitespace allowed), checked
    /// without building it: the same grammar, UTF-8 and NUL rules as ``parse(_:maximumDepth:allowsNUL:)``,
    /// except that duplicate keys and the range of numbers are not checked. For text that is
    /// copied through, such as the audit log's stored canonical JSON, where a damaged value must
    /// not produce invalid output but need not be read.
    public static func isObject(
        _ bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int = defaultMaximumDepth, allowsNUL: Bool = false
    ) -> Bool {
        var parser = JSONParser(bytes: bytes, maximumDepth: maximumDepth, allowsNUL: allowsNUL)
        parser.skipWhitespace()
        guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "{") else { return false }
        do {
            try parser.skipValue(depth: 0)
        } catch {
            return false
        }
        parser.skipWhitespace()
        return parser.index == bytes.count
    }

    /// Reads past one value, checking it as ``parseValue(depth:)`` does but keeping nothing.
    private mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            guard depth + 1 <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == close {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                if close == UInt8(ascii: "}") {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                        throw error("expected a string key")
                    }
                    try skipString()
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    index += 1
                    skipWhitespace()
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == close {
                    index += 1
                    return
                } else {
                    throw error("expected ',' or a closing bracket")
                }
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
        default: _ = try parseValue(depth: depth)
        }
    }

    /// Moves past whole 8-byte words of string content that need no attention: no quote, no
    /// backslash, no control character and no byte of a multi-byte UTF-8 sequence. Stored
    /// values are mostly such runs, and testing eight bytes at once makes checking them cheap.
    private mutating func skipPlainWords() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let raw = UnsafeRawPointer(bytes.baseAddress!)
        while index + 8 <= bytes.count {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            // A high bit set in any of these marks a byte equal to 0 after the XOR (a quote or a
            // backslash), below 0x20, or at or above 0x80.
            let flagged =
                ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
                | word
            if flagged & highs != 0 { return }
            index += 8
        }
    }

    /// Reads past one number, checking only its grammar (not its range).
    private mutating func skipNumber() throws(JSONParseError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    /// Reads past one string, checking its escapes, control characters and UTF-8.
    private mutating func skipString() throws(JSONParseError) {
        index += 1
        let start = index
        var isASCII = true
        while true {
            skipPlainWords()
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw error(byte == 0 ? "NUL byte" : "unescaped control character in a string") }
            if byte >= 0x80 { isASCII = false }
            index += 1
            guard byte == UInt8(ascii: "\\") else { continue }
            guard index < bytes.count else { throw error("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                continue
            case UInt8(ascii: "u"):
                var scratch: [UInt8] = []
                try appendUnicodeEscape(to: &scratch)
            default:
                index -= 2
                throw error("invalid escape")
            }
        }
        if !isASCII, String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self) == nil {
            throw JSONParseError(offset: start, reason: "invalid UTF-8")
        }
        index += 1
    }

    private mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected data after the JSON value") }
        return value
    }

    private func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case 0: throw error("NUL byte")
        default: throw error("unexpected character")
        }
    }

    private mutating func expect(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw error("invalid literal")
        }
        index += count
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONObject {
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return JSONObject()
        }
        var members = MemberList()
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard members.append(key, value) else {
                throw JSONParseError(offset: keyOffset, reason: "duplicate object key")
            }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return members.object
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> [JSONValue] {
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return elements
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes, ASCII or valid UTF-8 up to the closing quote.
        var hasEscapes = false
        /// Every byte scanned, or-ed: below 0x80 when the string is ASCII.
        var bits: UInt8 = 0
        var scan = index
        while scan < bytes.count {
            let byte = bytes[scan]
            bits |= byte
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                scan += 2
                continue
            }
            if byte < 0x20 {
                index = scan
                throw error(byte == 0 ? "NUL byte" : "unescaped control character in a string")
            }
            scan += 1
        }
        guard scan < bytes.count else {
            index = bytes.count
            throw error("unterminated string")
        }
        if !hasEscapes {
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<scan])
            // ASCII needs no validation; `String(validating:as:)` is not specialised here and
            // looked up generic metadata for every string (2 % of the daemon's samples).
            if bits < 0x80 {
                index = scan + 1
                return String(decoding: raw, as: UTF8.self)
            }
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw JSONParseError(offset: start, reason: "invalid UTF-8")
            }
            index = scan + 1
            return text
        }
        var output: [UInt8] = []
        output.reserveCapacity(scan - start)
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                break
            }
            if byte < 0x20 { throw error(byte == 0 ? "NUL byte" : "unescaped control character in a string") }
            if byte != UInt8(ascii: "\\") {
                output.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): output.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): output.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"): try appendUnicodeEscape(to: &output)
            default:
                index -= 2
                throw error("invalid escape")
            }
        }
        guard let text = String(validating: output, as: UTF8.self) else {
            throw JSONParseError(offset: start, reason: "invalid UTF-8")
        }
        return text
    }

    private mutating func appendUnicodeEscape(to output: inout [UInt8]) throws(JSONParseError) {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw error("unpaired surrogate") }
            index += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw error("unpaired surrogate")
        }
        guard scalar != 0 || allowsNUL else { throw error("NUL character") }
        guard let value = Unicode.Scalar(scalar) else { throw error("invalid unicode escape") }
        output.append(contentsOf: String(Character(value)).utf8)
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end of input") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid unicode escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        try skipNumber()
        let digits = UnsafeBufferPointer(rebasing: bytes[start..<index])
        let isInteger = !digits.contains {
            $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E")
        }
        let text = String(decoding: digits, as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .int(integer) }
        guard let double = Double(text), double.isFinite else {
            throw JSONParseError(offset: start, reason: "number out of range")
        }
        return .double(double)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// Why a frame is not acceptable JSON: a reason and the byte offset where it was found. It never
/// quotes the input.
public struct JSONParseError: Error, Hashable, CustomStringConvertible {
    /// The byte offset in the frame.
    public let offset: Int
    /// What is wrong there.
    public let reason: String

    /// A message for people.
    public var description: String { "\(reason) at byte \(offset)" }
}

/// An object's members as the parser reads them: duplicates refused as each key arrives (by a
/// scan while there are few, through a set once there are many, so no object costs quadratic
/// time), sorted once at the end unless they came in order.
private struct MemberList {
    private var members: [JSONObject.Element] = []
    private var keys: Set<String>?
    private var inOrder = true

    /// Adds a member; `false` when `key` is already there.
    mutating func append(_ key: String, _ value: JSONValue) -> Bool {
        if members.count < 16 {
            if members.contains(where: { $0.key == key }) { return false }
        } else {
            if keys == nil { keys = Set(members.map(\.key)) }
            guard keys!.insert(key).inserted else { return false }
        }
        if let last = members.last, inOrder { inOrder = JSONObject.precedes(last.key, key) }
        if members.isEmpty {
            // Events' objects hold a handful of members: room for them at once.
            members.reserveCapacity(8)
        }
        members.append((key: key, value: value))
        return true
    }

    /// The object, in key order.
    var object: JSONObject {
        if inOrder { return JSONObject(sortedUniqueMembers: members) }
        return JSONObject(sortedUniqueMembers: members.sorted { JSONObject.precedes($0.key, $1.key) })
    }
}
