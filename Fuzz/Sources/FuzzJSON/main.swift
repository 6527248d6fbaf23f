import AuthSignalFuzzChecks
import FuzzDriver

/// One input for libFuzzer: the checks are ``FuzzChecks/json(_:)``'s, in the main package.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzChecks.json(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

runLibFuzzer { data, size in
    data.map { fuzzJSON(UnsafeRawPointer($0), size) } ?? fuzzJSON(UnsafeRawPointer(bitPattern: 1)!, 0)
}
