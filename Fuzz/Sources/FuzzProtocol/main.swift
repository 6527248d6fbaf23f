import AuthSignalFuzzChecks
import FuzzDriver

/// One input for libFuzzer: the checks are ``FuzzChecks/protocolRequest(_:)``'s, in the main package.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzChecks.protocolRequest(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

runLibFuzzer { data, size in
    data.map { fuzzProtocol(UnsafeRawPointer($0), size) } ?? fuzzProtocol(UnsafeRawPointer(bitPattern: 1)!, 0)
}
