import CFuzzer
import Glibc

/// Hands `testOneInput` to libFuzzer with the program's arguments and exits with its status: a
/// Swift executable has a main of its own, so libFuzzer's is not linked (`LLVMFuzzerRunDriver`).
public func runLibFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var arguments = CommandLine.argc
    var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&arguments, &vector, testOneInput))
}
