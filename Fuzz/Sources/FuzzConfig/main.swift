import AuthSignalFuzzChecks
import FuzzDriver

/// One input for libFuzzer: the checks are ``FuzzChecks/configuration(_:)``'s, in the main package.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzChecks.configuration(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

runLibFuzzer { data, size in
    data.map { fuzzConfig(UnsafeRawPointer($0), size) } ?? fuzzConfig(UnsafeRawPointer(bitPattern: 1)!, 0)
}
