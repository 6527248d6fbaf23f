import AuthSignalCore
import FuzzDriver

/// Any bytes: the parser either refuses them or returns a value whose canonical encoding parses
/// back and encodes to the same bytes (what the hash chain relies on: a record's JSON columns
/// are hashed as stored). Values may change type on the way (an integral double is written as an
/// integer, docs/storage.md), the bytes may not.
///
/// And the validating scan that streaming relies on (`isObject`, which builds nothing) agrees
/// with the parser: it accepts every object the parser accepts, and what it accepts beyond them
/// the parser refuses only for what it does not check (duplicate keys, a number's range).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let scanned = JSONParser.isObject(bytes.assumingMemoryBound(to: UInt8.self))
    let parsed = Result { () throws(JSONParseError) in try JSONParser.parse(bytes) }
    switch parsed {
    case .success(.object): precondition(scanned, "the scan refuses an object the parser accepts")
    case .success: precondition(!scanned, "the scan accepts a value that is not an object")
    case .failure(let error):
        precondition(
            !scanned || ["duplicate object key", "number out of range"].contains(error.reason),
            "the scan accepts what the parser refuses: \(error.reason)")
    }
    guard let value = try? parsed.get() else { return 0 }
    let encoded = CanonicalJSON.encode(value)
    guard let again = try? JSONParser.parse(encoded, maximumDepth: 4096, allowsNUL: true) else {
        fatalError("the canonical encoding of a parsed value does not parse")
    }
    precondition(CanonicalJSON.encode(again) == encoded, "the canonical encoding is not stable")
    return 0
}

runLibFuzzer { data, size in
    data.map { fuzzJSON(UnsafeRawPointer($0), size) } ?? fuzzJSON(UnsafeRawPointer(bitPattern: 1)!, 0)
}
