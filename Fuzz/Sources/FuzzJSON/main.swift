import AuthSignalCore
import FuzzDriver

/// Any bytes: the parser either refuses them or returns a value whose canonical encoding parses
/// back and encodes to the same bytes (what the hash chain relies on: a record's JSON columns
/// are hashed as stored). Values may change type on the way (an integral double is written as an
/// integer, docs/storage.md), the bytes may not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
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
